"""Draws the documentation's figures from real MNIST and CIFAR-10 images.

Writes into docs/figures/: the fixed filter banks, edge responses on digits,
a Leung-Malik response montage, the first-layer filters mnist_convnet learns
beside the fixed edge filters, feature maps through cifar10_net's pyramid,
and both models' training curves. The trained models come from the training
benchmark's runs (runs/benchmark/mnist, runs/benchmark/cifar10) when they
exist, else they are trained here with their recipes (about 2 minutes on two
cores).

    python tools/make_figures.py --data-dir ../shared/data
"""

import argparse
import csv
from pathlib import Path

import keras
import numpy as np

import zoo  # noqa: F401  (registers the zoo's layers for load_model)
from zoo import figures, training
from zoo.data import read_raw, read_sample

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"mnist": ("mnist_convnet", "mnist"), "cifar10": ("cifar10_net", "cifar10")}


def trained_run(task: str, runs: Path, data_dir: str) -> Path:
    """A finished `zoo train` run of the task's model, trained here if needed."""
    out = runs / task
    if not (out / "model.keras").exists() or not (out / "history.csv").exists():
        model, dataset = RUNS[task]
        print(f"training {model} on {dataset} into {out} ...", flush=True)
        training.train(model, dataset=dataset, data_dir=data_dir, out=out, verbose=0)
    return out


def test_images(name: str, data_dir: str):
    raw = read_raw(name, data_dir) if Path(data_dir).exists() else None
    (_, _), (x, y), names = raw if raw is not None else read_sample(f"{name}:sample")
    return x, y, names


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--runs", default="runs/benchmark", help="where the training benchmark left its runs")
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    digits, digit_labels, _ = test_images("mnist", args.data_dir)
    objects, object_labels, object_names = test_images("cifar10", args.data_dir)

    written = [
        figures.draw_bank("edge", out / "edge_bank.png"),
        figures.draw_bank("lm", out / "lm_bank.png"),
        figures.draw_edge_responses(digits[:10], digit_labels[:10], out / "edge_responses.png"),
    ]
    # A CIFAR-10 test image, grey and upsampled to 96x96 so the 49x49 filters fit.
    image = keras.ops.image.resize(objects[3:4].astype("float32").mean(-1, keepdims=True), (96, 96))
    written.append(figures.draw_lm_responses(
        np.asarray(image)[0], out / "lm_responses.png", f"a CIFAR-10 {object_names[object_labels[3]]}, 96x96 grey"
    ))

    runs = Path(args.runs)
    mnist_run, cifar_run = (trained_run(task, runs, args.data_dir) for task in ("mnist", "cifar10"))
    written.append(figures.draw_learned_filters(
        keras.saving.load_model(mnist_run / "model.keras"), out / "learned_filters.png"
    ))
    written.append(figures.draw_feature_maps(
        keras.saving.load_model(cifar_run / "model.keras"), objects[3], out / "feature_maps.png"
    ))
    histories = {}
    for label, run in (("mnist_convnet", mnist_run), ("cifar10_net", cifar_run)):
        with open(run / "history.csv", newline="") as f:
            histories[label] = list(csv.DictReader(f))
    written.append(figures.draw_curves(histories, out / "training_curves.png"))
    for path in written:
        print(Path(path).resolve().relative_to(ROOT))


if __name__ == "__main__":
    main()
