"""Trains the weight sets shipped in zoo/weights/ and writes their records.

Each model is trained by its own recipe, `zoo train MODEL --dataset D
--data-dir DATA --seed 0`, on the real subsets in ../shared/data; its weights
are saved beside a record (`MODEL.TAG.json`) holding the class names, input
shape, preprocessing, the accuracy of the shipped file measured on the
subset's test split and on the package's own sample test images (both held
out from training), the machine, the command, sha256 and size. The
`"imagenet"` records (VGG, ResNet-50, MobileNetV2) are written from
keras.applications' URLs and hashes in zoo/models/ and its published
accuracy, with the ImageNet class names (`imagenet_classes.json`) read from
the keras-hub wheel given.

Run from the repository root:

    python tools/make_weights.py --data-dir ../shared/data
    python tools/make_weights.py --imagenet
    python tools/make_weights.py --imagenet-classes keras_hub-0.32.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import numpy as np

from zoo import data as zoo_data
from zoo import weights as zoo_weights
from zoo.models import mobilenet, resnet, vgg
from zoo.registry import get_model_factory

# model -> (weight tag, dataset)
SHIPPED = {
    "mnist_convnet": ("mnist", "mnist"),
    "edge_convnet": ("mnist", "mnist"),
    "lm_convnet": ("mnist", "mnist"),
    "cifar10_net": ("cifar10", "cifar10"),
}
PREPROCESSING = {
    "mnist": "raw grey pixels in [0, 255], white digit on black as in MNIST; the model rescales them to [0, 1]",
    "cifar10": "raw RGB pixels in [0, 255]; the model normalises them with the CIFAR-10 channel means and "
    "deviations, and averages its logits over each image and its mirror (test-time augmentation, in the model)",
}
_CAFFE = ("raw RGB pixels in [0, 255]; the model reverses them to BGR and subtracts the ImageNet channel "
          "means (keras.applications' 'caffe' mode)")
# Published by keras.applications (https://keras.io/api/applications/), on
# the 50,000 ImageNet validation images at 224x224 (MobileNetV2: alpha 1.0):
# top-1, top-5, the preprocessing in the model, who trained the weights.
IMAGENET_PUBLISHED = {
    "vgg16": (0.713, 0.901, _CAFFE, "trained by the Oxford VGG group and converted by keras.applications"),
    "vgg19": (0.713, 0.900, _CAFFE, "trained by the Oxford VGG group and converted by keras.applications"),
    "resnet50": (0.749, 0.921, _CAFFE, "the original MSRA (Caffe) model, converted by keras.applications"),
    "mobilenet_v2": (0.713, 0.901, "raw RGB pixels in [0, 255]; the model scales them to [-1, 1] "
                     "(keras.applications' 'tf' mode)", "trained by Google (TF-Slim), converted by keras.applications"),
}


def _accuracy(model, images, labels) -> float:
    predictions = model.predict(images.astype("float32"), batch_size=256, verbose=0)
    return float(np.mean(predictions.argmax(axis=-1) == labels))


def ship(name: str, data_dir: str, runs: Path) -> dict:
    import keras

    tag, dataset = SHIPPED[name]
    out = runs / name
    command = ["zoo", "train", name, "--dataset", dataset, "--data-dir", data_dir, "--seed", "0", "--out", str(out)]
    # This Python's `zoo`, not whichever is on PATH (none, with the venv not activated).
    subprocess.run([str(Path(sys.executable).with_name("zoo")), *command[1:]], check=True)
    summary = json.loads((out / "summary.json").read_text())
    trained = keras.saving.load_model(out / "model.keras")
    config = {"input_shape": list(trained.input_shape[1:]), "classes": int(trained.output_shape[-1])}
    path = zoo_weights.WEIGHTS_DIR / f"{name}.{tag}.weights.h5"
    record_path = zoo_weights.WEIGHTS_DIR / f"{name}.{tag}.json"
    # The shipped set is replaced, then measured through the public API, which
    # reads it: a failure in between puts the set it replaced back.
    before = {p: p.read_bytes() if p.exists() else None for p in (path, record_path)}
    try:
        return _ship_trained(name, tag, dataset, data_dir, command, summary, trained, config, path, record_path)
    except BaseException:
        for p, content in before.items():
            if content is None:
                p.unlink(missing_ok=True)
            else:
                p.write_bytes(content)
        zoo_weights._records.cache_clear()
        raise


def _ship_trained(name, tag, dataset, data_dir, command, summary, trained, config, path, record_path) -> dict:
    """Writes the weights file and record of a trained model, then measures them."""
    # Weights only, from a fresh model of the record's config: the file must
    # load into exactly what load_pretrained builds.
    fresh = get_model_factory(name)(**config)
    for layer in fresh.layers:
        layer.set_weights(trained.get_layer(layer.name).get_weights())
    fresh.save_weights(path)
    record = {
        "model": name,
        "tag": tag,
        "file": path.name,
        "sha256": zoo_weights.sha256(path),
        "size": path.stat().st_size,
        "config": config,
        "class_names": summary["classes"],
        "input_shape": config["input_shape"],
        "preprocessing": PREPROCESSING[dataset],
        "dataset": f"{dataset}: a real subset of the official training set, {summary['records']['train']:,} "
        "records (../shared/data; the full set was not available)",
        "train_records": summary["records"]["train"],
        "command": " ".join(command[:-2]),
        "recipe": summary["recipe"],
        "precision": summary["precision"],
        "machine": summary["device"]["description"],
        "versions": summary["versions"],
        "date": date.today().isoformat(),
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    zoo_weights._records.cache_clear()

    # Measured on the shipped file, through the public API.
    model = get_model_factory(name)(weights=tag)
    (_, _), (x_test, y_test), _ = zoo_data.read_raw(dataset, data_dir)
    (_, _), (x_sample, y_sample), _ = zoo_data.read_sample(f"{dataset}:sample")
    record["metrics"] = {
        "test": {
            "top1": round(_accuracy(model, x_test, y_test), 4),
            "records": len(y_test),
            "split": f"the {len(y_test):,} test records of ../shared/data ({dataset}'s leading official test records)",
        },
        "sample_test": {
            "top1": round(_accuracy(model, x_sample, y_sample), 4),
            "records": len(y_sample),
            "split": f"the test images of --dataset {dataset}:sample, shipped with the package "
            "(the leading records of the same test split)",
        },
        "machine": summary["device"]["description"],
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{path}: top-1 {record['metrics']['test']['top1']:.2%} on {len(y_test)} test records, "
          f"{record['size']:,} bytes")
    return record


def imagenet_classes(wheel: str) -> None:
    """Writes imagenet_classes.json, `[[wnid, name], ...]` in output order, from keras-hub."""
    member = "keras_hub/src/utils/imagenet/imagenet_utils.py"
    with zipfile.ZipFile(wheel) as f:
        tree = ast.parse(f.read(member))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "IMAGENET_NAMES":
            names = ast.literal_eval(node.value)
            break
    else:
        sys.exit(f"make_weights: no IMAGENET_NAMES in {member} of {wheel}")
    entries = [list(names[i]) for i in range(1000)]
    path = zoo_weights.WEIGHTS_DIR / "imagenet_classes.json"
    path.write_text(json.dumps(entries) + "\n")
    print(f"{path}: {len(entries)} classes from {Path(wheel).name} (Apache-2.0)")


def _imagenet_files() -> dict[str, dict]:
    """Each ImageNet model's keras.applications files: name, URL and md5 (None where none is published)."""
    files = {}
    for arch in ("vgg16", "vgg19"):
        files[arch] = {}
        for include_top, key in ((True, "top"), (False, "notop")):
            fname, md5 = vgg.IMAGENET_WEIGHTS[(arch, include_top)]
            files[arch][key] = {"file": fname, "url": vgg._WEIGHTS_URL.format(arch=arch, file=fname), "md5": md5}
    files["resnet50"] = {}
    for include_top, key in ((True, "top"), (False, "notop")):
        fname, md5 = resnet.IMAGENET_WEIGHTS[("resnet50", include_top)]
        files["resnet50"][key] = {"file": fname, "url": resnet._WEIGHTS_URL.format(file=fname), "md5": md5}
    # One file per width and input size: the record holds the name patterns.
    files["mobilenet_v2"] = {}
    for key, suffix in (("top", ""), ("notop", "_no_top")):
        fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{{alpha}}_{{rows}}{suffix}.h5"
        files["mobilenet_v2"][key] = {"file": fname, "url": mobilenet._WEIGHTS_URL.format(file=fname), "md5": None,
                                      "alpha": list(mobilenet.IMAGENET_ALPHAS), "rows": list(mobilenet.IMAGENET_SIZES)}
    return files


def imagenet_records() -> None:
    """Writes the `"imagenet"` record of each model with keras.applications weights."""
    files = _imagenet_files()
    for arch, (top1, top5, preprocessing, origin) in IMAGENET_PUBLISHED.items():
        record = {
            "model": arch,
            "tag": "imagenet",
            "file": None,
            "files": files[arch],
            "config": {},
            "class_names": "imagenet_classes.json",
            "input_shape": [224, 224, 3],
            "preprocessing": preprocessing,
            "dataset": f"ImageNet-1k (ILSVRC 2012) training set, 1,281,167 images; {origin}",
            "train_records": 1281167,
            "command": None,
            "metrics": {
                "test": {"top1": top1, "top5": top5, "records": 50000,
                         "split": "ImageNet validation, as published by keras.applications (https://keras.io/api/applications/)"},
                "machine": None,
            },
        }
        path = zoo_weights.WEIGHTS_DIR / f"{arch}.imagenet.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--models", nargs="*", default=list(SHIPPED), choices=list(SHIPPED))
    parser.add_argument("--runs", default="runs/weights")
    parser.add_argument("--imagenet", action="store_true", help="write only the ImageNet records")
    parser.add_argument("--imagenet-classes", metavar="WHEEL",
                        help="a keras-hub wheel: write imagenet_classes.json from it, and the ImageNet records")
    args = parser.parse_args()
    zoo_weights.WEIGHTS_DIR.mkdir(exist_ok=True)
    if args.imagenet_classes or args.imagenet:
        if args.imagenet_classes:
            imagenet_classes(args.imagenet_classes)
        imagenet_records()
    else:
        for model in args.models:
            ship(model, args.data_dir, Path(args.runs))
