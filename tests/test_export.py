"""`zoo export` and `zoo predict`: every format and quantization against Keras
on real images, builtin ops only, untrusted and broken files refused."""

import json
import os
from collections import Counter

import keras
import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image
from test_cli import run
from test_data import TINY_TFDS, prepare_tiny_digits, write_digit_folder

import zoo
from zoo import export, predict, training
from zoo.data import read_sample

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """mnist_convnet after one epoch on the shipped MNIST sample, as `zoo train` leaves it."""
    out = tmp_path_factory.mktemp("run")
    training.train("mnist_convnet", dataset="mnist:sample", epochs=1, seed=0, verbose=0, out=str(out))
    return str(out / "model.keras")


@pytest.fixture(scope="module")
def exports(trained, tmp_path_factory):
    """`{kind: (path, report)}`: the SavedModel and the four TFLite files, default settings."""
    folder = tmp_path_factory.mktemp("exports")
    made = {}
    for kind in ("saved_model", "onnx", *QUANTIZATIONS):
        fmt, quantize = (kind, "none") if kind in ("saved_model", "onnx") else ("tflite", kind)
        path = str(folder / {"saved_model": kind, "onnx": "model.onnx"}.get(fmt, f"{kind}.tflite"))
        made[kind] = path, export.export_model(trained, path, format=fmt, quantize=quantize)
    return made


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A grey PNG digit and a colour JPEG, real sample test images, with their labels."""
    folder = tmp_path_factory.mktemp("images")
    _, (x, y), _ = read_sample("mnist:sample")
    Image.fromarray(x[0, ..., 0]).save(folder / "digit.png")
    _, (x, y_colour), _ = read_sample("cifar10:sample")
    Image.fromarray(x[0]).save(folder / "photo.jpg", quality=95)
    return str(folder / "digit.png"), str(folder / "photo.jpg")


def _mnist_test(n=200):
    _, (x, y), _ = read_sample("mnist:sample")
    return x[:n].astype("float32"), y[:n]


def _ops(path):
    return {op["op_name"] for op in predict.TFLiteRunner(path).interpreter._get_ops_details()}


def _tensor_dtypes(path):
    return Counter(np.dtype(t["dtype"]).name for t in predict.TFLiteRunner(path).interpreter.get_tensor_details())


def test_saved_model_serving_signature_matches_keras(trained, exports):
    import tensorflow as tf

    path, report = exports["saved_model"]
    x, _ = _mnist_test()
    expected = keras.saving.load_model(trained).predict(x, verbose=0)
    serving = tf.saved_model.load(path).signatures["serving_default"]
    (name,) = serving.structured_input_signature[1]
    (got,) = serving(**{name: tf.constant(x)}).values()
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
    assert report["parity"]["max_abs_diff"] <= 1e-5 and report["within_tolerance"]
    assert report["parity"]["images"] == 500 and report["parity"]["dataset"] == "mnist:sample"
    assert report["parity"]["top1_agreement"] == 1.0


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_tflite_is_builtin_ops_only(exports, quantize):
    path, report = exports[quantize]
    ops = _ops(path)
    assert ops and not any("Flex" in op or op == "CUSTOM" for op in ops), ops
    assert report["format"] == "tflite" and report["quantization"] == quantize
    assert report["sizes"]["exported_bytes"] == os.path.getsize(path)
    assert report["sizes"]["keras_bytes"] == os.path.getsize(report["source"])
    assert report["classes"] == [str(i) for i in range(10)]  # from the run's summary.json


def test_float_tflite_matches_keras(trained, exports):
    path, report = exports["none"]
    x, _ = _mnist_test()
    expected = keras.saving.load_model(trained).predict(x, verbose=0)
    np.testing.assert_allclose(export.run_tflite(path, x), expected, atol=1e-4)
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["within_tolerance"]
    assert report["parity"]["keras_top1"] == report["parity"]["exported_top1"]


def test_float16_holds_float16_weights(exports):
    path, report = exports["float16"]
    assert _tensor_dtypes(path)["float16"] >= 5  # four kernels and biases at least
    assert report["sizes"]["exported_bytes"] < 0.6 * exports["none"][1]["sizes"]["exported_bytes"]
    assert report["parity"]["max_abs_diff"] < 5e-3 and report["parity"]["top1_agreement"] >= 0.99


def test_dynamic_range_holds_int8_weights(exports):
    path, report = exports["dynamic"]
    runner = predict.TFLiteRunner(path)
    assert runner.input["dtype"] == np.float32 and _tensor_dtypes(path)["int8"] >= 3
    assert report["sizes"]["exported_bytes"] < 0.35 * exports["none"][1]["sizes"]["exported_bytes"]
    assert report["parity"]["top1_agreement"] >= 0.97


def test_int8_is_fully_integer_and_agrees(exports):
    path, report = exports["int8"]
    runner = predict.TFLiteRunner(path)
    # Raw pixels in unchanged: uint8, scale 1, zero point 0.
    assert runner.input["dtype"] == np.uint8 and runner.input["quantization"] == (1.0, 0)
    assert runner.output["dtype"] == np.uint8
    dtypes = _tensor_dtypes(path)
    assert dtypes["int8"] >= 10 and "float32" not in dtypes, dtypes
    assert report["calibration"] == {"dataset": "mnist:sample", "split": "train", "images": 500}
    parity = report["parity"]
    assert parity["top1_agreement"] >= 0.97
    assert abs(parity["keras_top1"] - parity["exported_top1"]) <= 0.02
    # The images behind the difference, and the interval of the drop they give.
    images = parity["images"]
    drop = (parity["top1_lost"] - parity["top1_gained"]) / images
    assert drop == pytest.approx(parity["keras_top1"] - parity["exported_top1"], abs=1e-9)
    assert parity["top1_lost"] + parity["top1_gained"] <= (1 - parity["top1_agreement"]) * images + 1e-9
    low, high = parity["top1_drop_interval"]
    assert low <= round(drop, 4) <= high
    assert report["sizes"]["exported_bytes"] < exports["none"][1]["sizes"]["exported_bytes"] / 3


@pytest.mark.parametrize("name", ["edge_convnet", "lm_convnet"])
def test_fixed_filter_convnets_export(name, tmp_path):
    model = zoo.create_model(name)
    report = export.export_model(model, str(tmp_path / "m.tflite"), format="tflite", parity_images=32)
    assert report["parity"]["max_abs_diff"] <= 1e-4
    if name == "edge_convnet":  # the Sobel bank quantizes like any convolution
        report = export.export_model(
            model, str(tmp_path / "q.tflite"), format="tflite", quantize="int8",
            calibration_images=50, parity_images=100,
        )
        assert report["parity"]["top1_agreement"] >= 0.9


def test_vgg16_at_32x32_exports(tmp_path):
    model = zoo.vgg16(input_shape=(32, 32, 3), classes=10)
    report = export.export_model(model, str(tmp_path / "vgg.tflite"), format="tflite", parity_images=16)
    assert report["parity"]["dataset"] == "cifar10:sample" and report["parity"]["max_abs_diff"] <= 1e-4
    assert report["sizes"]["keras_bytes"] is None  # exported from memory, no .keras file


def _vgg_input(inputs):
    """VGG's preprocessing: RGB to BGR, then the ImageNet mean subtracted."""
    offset = [-m for m in zoo.vgg.IMAGENET_MEAN_BGR]
    return keras.layers.Rescaling(1.0, offset=offset)(zoo.layers.ReverseChannels()(inputs))


def test_int8_keeps_vgg_channel_order():
    """TFLite's int8 REVERSE_V2 rescales without requantizing; VGG's RGB to BGR must avoid it."""
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, activation="relu")(_vgg_input(inputs)))
    _, (x, _), _ = read_sample("cifar10:sample")
    got = export.run_tflite(export.tflite_bytes(model, "int8", x[:20]), x[20:30])
    expected = model.predict(x[20:30].astype("float32"), verbose=0)
    assert np.abs(got - expected).max() < 0.05 * expected.max()


def test_onnx_keeps_vgg_channel_order(tmp_path):
    """VGG's RGB to BGR flip and mean offset convert to ONNX as Keras computes
    them. The cheap stand-in for vgg16's own ONNX parity (with vgg19's among
    the slow tests): the rest of VGG is convolutions, pools and dense layers,
    which every other model's ONNX parity converts."""
    from zoo.predict import OnnxRunner

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(_vgg_input(inputs))
    x = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, x)
    path = str(tmp_path / "vgg_input.onnx")
    report = export.export_model(model, path, format="onnx", parity_images=16, calibration_images=1)
    assert report["within_tolerance"] and report["parity"]["max_abs_diff"] <= 1e-4, report["parity"]
    _, (x, _), _ = read_sample("cifar10:sample")
    np.testing.assert_allclose(OnnxRunner(path)(x[:3].astype("float32")), model.predict(x[:3], verbose=0),
                               atol=1e-4)


def test_cli_export_prints_and_saves_the_report(capsys, trained, tmp_path):
    out = str(tmp_path / "m.tflite")
    code, stdout, err = run(capsys, "export", trained, "--format", "tflite", "--quantize", "dynamic",
                            "--parity-images", "100", "--out", out)
    assert code == 0 and err == ""
    assert "top-1 agreement" in stdout and "top-1 accuracy: Keras" in stdout and out + ".json" in stdout
    with open(out + ".json") as f:
        report = json.load(f)
    parity = report["parity"]
    low, high = parity["top1_drop_interval"]
    assert (f"the export is wrong where Keras is right on {parity['top1_lost']} of them, right where it is wrong "
            f"on {parity['top1_gained']}: a top-1 drop's 95 % interval is {100 * low:+.2f} to {100 * high:+.2f} "
            "points") in stdout
    assert report["parity"]["images"] == 100 and report["quantization"] == "dynamic"
    assert sorted(os.listdir(tmp_path)) == ["m.tflite", "m.tflite.json"]  # no temporary files left


def test_int8_defaults_to_the_sample_for_colour_models(tmp_path):
    model = zoo.cifar10_net(filters=(8, 16, 16))
    report = export.export_model(
        model, str(tmp_path / "c.tflite"), format="tflite", quantize="int8",
        calibration_images=20, parity_images=20,
    )
    assert report["calibration"]["dataset"] == report["parity"]["dataset"] == "cifar10:sample"
    assert report["input"] == {"shape": [32, 32, 3], "dtype": "uint8", "pixels": "raw, [0, 255]"}
    with pytest.raises(ValueError, match="pass --dataset"):
        export.default_dataset((28, 28, 2))


@pytest.mark.parametrize("source", ["folder", "FOLDER", "tfds"])
def test_cli_int8_calibrates_on_a_folder_or_tfds(capsys, tmp_path, source):
    """Calibration reads the training split with nothing held out for validation; "folder" in any case."""
    model = str(tmp_path / "m.keras")
    zoo.mnist_convnet().save(model)
    if source.lower() == "folder":
        dataset, data_dir = source, write_digit_folder(tmp_path / "digits")
    else:
        dataset, data_dir = TINY_TFDS, prepare_tiny_digits(tmp_path / "tfds")
    out = str(tmp_path / "m.tflite")
    code, _, err = run(capsys, "export", model, "--format", "tflite", "--quantize", "int8", "--dataset", dataset,
                       "--data-dir", str(data_dir), "--calibration-images", "20", "--parity-images", "20",
                       "--out", out)
    assert code == 0, err
    with open(out + ".json") as f:
        report = json.load(f)
    parity_images = 10 if source.lower() == "folder" else 20  # the folder holds out 10 % of 100 for testing
    assert report["calibration"] == {"dataset": dataset, "split": "train", "images": 20}
    assert report["parity"]["dataset"] == dataset and report["parity"]["images"] == parity_images


@pytest.mark.parametrize("kind", ["keras", "saved_model", "int8", "onnx"])
def test_predict_every_kind(capsys, trained, exports, images, kind):
    model = trained if kind == "keras" else exports[kind][0]
    code, out, err = run(capsys, "predict", model, *images, "--json", "--top-k", "3")
    assert code == 0 and err == ""
    digit, photo = json.loads(out)
    assert digit["image"] == images[0] and photo["image"] == images[1]
    for result in (digit, photo):
        p = [c["probability"] for c in result["top_k"]]
        assert len(p) == 3 and p == sorted(p, reverse=True) and sum(p) <= 1.01
    # The digit as Keras sees it: the PNG decodes to the sample's pixels exactly.
    x = np.asarray(Image.open(images[0]), "float32")[None, ..., None]
    best = int(keras.saving.load_model(trained).predict(x, verbose=0).argmax())
    assert (digit["top_k"][0]["index"], digit["top_k"][0]["name"]) == (best, str(best))


def test_onnx_export_report_and_graph(trained, exports):
    """Raw pixels in, a dynamic batch, within 1e-4 of Keras on real images, as the CLI reports it."""
    import onnx

    path, report = exports["onnx"]
    assert report["format"] == "onnx" and report["quantization"] is None and report["outputs"] == "probabilities"
    assert report["within_tolerance"] and report["tolerance"] == 1e-4 and report["parity"]["images"] == 500
    assert report["parity"]["exported_top1"] == report["parity"]["keras_top1"]
    assert report["input"] == {"shape": [28, 28, 1], "dtype": "float32", "pixels": "raw, [0, 255]", "batch": "dynamic"}
    graph = onnx.load(path).graph
    assert len(graph.input) == 1 and graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert {"tf2onnx", "onnx", "onnxruntime"} <= set(report["versions"])
    x, _ = _mnist_test(64)
    model = keras.saving.load_model(trained)
    np.testing.assert_allclose(predict.OnnxRunner(path)(x), model.predict(x, verbose=0), atol=1e-4)


def test_onnx_without_the_extra_is_one_line(trained, tmp_path):
    """Without tf2onnx, `--format onnx` names the extra to install and writes nothing."""
    import subprocess
    import sys

    hide = (
        "import importlib.machinery, sys\n"
        "class Hidden:\n"
        "    @staticmethod\n"
        "    def find_spec(name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tf2onnx': return None\n"
        "        return importlib.machinery.PathFinder.find_spec(name, path, target)\n"
        "    @staticmethod\n"
        "    def invalidate_caches(): importlib.machinery.PathFinder.invalidate_caches()\n"
        "sys.meta_path[:] = [Hidden if f is importlib.machinery.PathFinder else f for f in sys.meta_path]\n"
        "import zoo_cli; sys.exit(zoo_cli.main())\n"
    )
    out = tmp_path / "out" / "m.onnx"
    done = subprocess.run([sys.executable, "-c", hide, "export", trained, "--format", "onnx", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stdout == ""
    assert_one_line_error(done.stderr, "needs tf2onnx", "pip install 'keras-zoo[onnx]'")
    assert not (tmp_path / "out").exists()


def test_predict_converts_channels_and_size(capsys, images, tmp_path):
    path = str(tmp_path / "colour.keras")
    zoo.cifar10_net(filters=(8, 16, 16)).save(path)  # 32x32 RGB, no class names
    code, out, _ = run(capsys, "predict", path, *images, "--top-k", "2")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2 and lines[0].startswith(images[0] + ": ")
    assert lines[1].count("%") == 2
    grey = predict.read_image(images[0], (32, 32, 3))
    assert grey.shape == (32, 32, 3) and (grey[..., 0] == grey[..., 2]).all()
    assert predict.read_image(images[1], (28, 28, 1)).shape == (28, 28, 1)


@pytest.fixture
def lambda_file(tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(lambda t: t * 2)(keras.layers.Flatten()(inputs))
    path = str(tmp_path / "lambda.keras")
    keras.Model(inputs, keras.layers.Dense(10)(x)).save(path)
    return path


@pytest.fixture
def broken_files(trained, tmp_path):
    with open(trained, "rb") as f:
        content = f.read()
    truncated, tflite = str(tmp_path / "truncated.keras"), str(tmp_path / "broken.tflite")
    with open(truncated, "wb") as f:
        f.write(content[: len(content) // 2])
    with open(tflite, "wb") as f:
        f.write(b"\0\0\0\0TFL3" + b"\x07" * 64)
    return truncated, tflite


def test_untrusted_and_broken_files_are_refused(capsys, lambda_file, broken_files, images, tmp_path):
    truncated, tflite = broken_files
    out = str(tmp_path / "out.tflite")
    cases = [
        (["export", lambda_file, "--format", "tflite", "--out", out], ["Refusing to load", "Lambda", lambda_file]),
        (["predict", lambda_file, images[0]], ["Refusing to load", lambda_file]),
        (["export", truncated, "--format", "tflite", "--out", out], ["corrupt or truncated", truncated]),
        (["predict", truncated, images[0]], [truncated]),
        (["predict", tflite, images[0]], ["Could not read the TFLite model", tflite]),
        (["predict", lambda_file.replace("lambda", "missing"), images[0]], ["No such model"]),
        (["predict", truncated.replace("truncated", "missing"), tflite], ["No such model"]),
    ]
    for argv, fragments in cases:
        code, stdout, err = run(capsys, *argv)
        assert code == 1 and stdout == "", argv
        assert_one_line_error(err, "zoo: error:", *fragments)
    assert not os.path.exists(out) and not os.path.exists(out + ".json")


def test_unreadable_image_is_one_line(capsys, trained, broken_files):
    code, _, err = run(capsys, "predict", trained, broken_files[1])
    assert code == 1
    assert_one_line_error(err, "Could not read the image", broken_files[1])


@pytest.mark.parametrize(
    "flags,code,fragments",
    [
        (["--format", "onnnx"], 2, ["invalid choice: 'onnnx'"]),
        (["--format", "onnx", "--quantize", "int8"], 1, ["TFLite files only", "quantize='int8'"]),
        (["--format", "tflite", "--quantize", "int4"], 2, ["invalid choice: 'int4'"]),
        (["--format", "saved_model", "--quantize", "int8"], 1, ["TFLite files only", "quantize='int8'"]),
        (["--format", "tflite", "--calibration-images", "0"], 2, ["positive integer"]),
        (["--format", "tflite", "--dataset", "mnist", "--data-dir", "/nonexistent"], 1, ["/nonexistent"]),
        # Options that would do nothing, refused as --quantize without tflite is.
        (["--format", "tflite", "--calibration-images", "7"], 1, ["--quantize int8", "Received: calibration_images=7"]),
        (["--format", "tflite", "--quantize", "dynamic", "--calibration-images", "7"], 1,
         ["--quantize int8", "Received: calibration_images=7"]),
        (["--format", "tflite", "--data-dir", "/tmp"], 1, ["--dataset", "Received: data_dir='/tmp'"]),
    ],
)
def test_bad_export_flags(capsys, trained, tmp_path, flags, code, fragments):
    out = tmp_path / "out" / "m.tflite"
    got, stdout, err = run(capsys, "export", trained, *flags, "--out", str(out))
    assert got == code and stdout == ""
    assert_one_line_error(err, *fragments)
    assert not (tmp_path / "out").exists()


def test_missing_out_and_missing_model(capsys, tmp_path):
    code, _, err = run(capsys, "export", str(tmp_path / "m.keras"), "--format", "tflite")
    assert code == 2
    assert_one_line_error(err, "--out")
    code, _, err = run(capsys, "export", str(tmp_path / "m.keras"), "--format", "tflite", "--out", str(tmp_path / "x"))
    assert code == 1
    assert_one_line_error(err, "No such model file", "m.keras")
    assert os.listdir(tmp_path) == []


def test_a_failed_export_leaves_the_previous_one(trained, tmp_path, monkeypatch):
    path = str(tmp_path / "m.tflite")
    export.export_model(trained, path, format="tflite", parity_images=10)
    with open(path, "rb") as f:
        before = f.read()

    def fail(*args, **kwargs):
        raise ValueError("converter exploded")

    monkeypatch.setattr(export, "tflite_bytes", fail)
    with pytest.raises(ValueError, match="exploded"):
        export.export_model(trained, path, format="tflite", parity_images=10)
    with open(path, "rb") as f:
        assert f.read() == before
    assert sorted(os.listdir(tmp_path)) == ["m.tflite", "m.tflite.json"]


def test_out_never_replaces_a_folder_or_the_source(trained, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a SavedModel"):
        export.export_model(trained, str(tmp_path), format="saved_model", parity_images=10)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="overwrite its source"):
        export.export_model(trained, trained, format="tflite")


@pytest.mark.parametrize(
    "format,make,fragment",
    [
        ("saved_model", "file", "is a file, not a SavedModel directory"),
        ("tflite", "folder", "is a directory, not a .tflite file"),
        ("tflite", "file/inside", "/file' is a file, not a folder"),
    ],
)
def test_out_in_the_way_is_named_in_words(capsys, trained, tmp_path, format, make, fragment):
    (tmp_path / "file").write_text("mine")
    (tmp_path / "folder").mkdir()
    out = tmp_path / make
    code, stdout, err = run(capsys, "export", trained, "--format", format, "--parity-images", "8", "--out", str(out))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, fragment, f"Received: out={str(out)!r}")
    assert "Errno" not in err and ".tmp-" not in err
    assert sorted(os.listdir(tmp_path)) == ["file", "folder"] and os.listdir(tmp_path / "folder") == []
    assert (tmp_path / "file").read_text() == "mine"


def test_test_time_views_convert_to_the_same_int8_file_every_time(tmp_path):
    """The views' shifts are gathers: built from split pieces, the quantizer
    left them in float32 in 13 of 40 conversions of one mnist_convnet, and
    in none of 60 as gathers (`zoo.layers._shifted`)."""
    model = zoo.mnist_convnet(test_time_augmentation="translate")
    calibration = _mnist_test(16)[0]
    files = [export.tflite_bytes(model, "int8", calibration=calibration) for _ in range(3)]
    assert files[0] == files[1] == files[2] and not export.float_tensors(files[0])
    (tmp_path / "int8.tflite").write_bytes(files[0])
    ops = _ops(tmp_path / "int8.tflite")
    assert "GATHER" in ops and "SPLIT_V" not in ops


def test_int8_refuses_a_file_the_converter_left_partly_float(monkeypatch):
    """The quantizer can leave ops in float32 though only integer kernels
    were allowed: such a file is refused in one line naming what is left."""
    import tensorflow as tf

    model = zoo.mnist_convnet()
    float_file = export.tflite_bytes(model)
    from_saved_model = tf.lite.TFLiteConverter.from_saved_model

    def float_converter(path):
        converter = from_saved_model(path)
        converter.convert = lambda: float_file
        return converter

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", float_converter)
    with pytest.raises(ValueError, match=r"^'mnist_convnet' does not convert to a fully int8 TFLite file: the "
                                         r"converter left \d+ float32 tensors, e.g. '[^']+'$"):
        export.tflite_bytes(model, "int8", calibration=_mnist_test(8)[0])


def _logits_model():
    inputs = keras.Input((28, 28, 1))
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))


@pytest.mark.parametrize("format", ["saved_model", "tflite", "onnx"])
def test_exports_without_a_report_remove_an_earlier_one(tmp_path, format):
    """`export_saved_model`, `export_tflite` and `export_onnx` write no report:
    one an earlier export left would describe another model (a softmax's
    probabilities, for this model's logits)."""
    path = str(tmp_path / {"saved_model": "sm", "tflite": "m.tflite", "onnx": "m.onnx"}[format])
    report = predict.report_path(path)
    with open(report, "w") as f:
        json.dump({"file": os.path.basename(path), "outputs": "probabilities", "classes": list("abcdefghij")}, f)
    getattr(export, f"export_{format}")(_logits_model(), path)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]
    predictor = predict.load_predictor(path)
    assert predictor.outputs == "logits" and predictor.classes is None


def test_export_and_report_are_published_together(trained, tmp_path, monkeypatch):
    """The export and its report come from one staging folder: a failure in
    between leaves the previous pair, and the old report is moved away
    before the new export is put in place."""
    path = str(tmp_path / "m.tflite")
    first = export.export_model(trained, path, format="tflite", parity_images=10)
    with open(path, "rb") as f:
        before = f.read()

    def report():
        with open(predict.report_path(path)) as f:
            return json.load(f)

    assert report() == first

    def fail(*args, **kwargs):
        raise ValueError("parity exploded")

    with monkeypatch.context() as m:
        m.setattr(export, "_parity", fail)  # after the conversion, while the report is made
        with pytest.raises(ValueError, match="exploded"):
            export.export_model(zoo.mnist_convnet(), path, format="tflite", parity_images=10)
    with open(path, "rb") as f:
        assert f.read() == before
    assert report() == first and sorted(os.listdir(tmp_path)) == ["m.tflite", "m.tflite.json"]

    replace, reports_beside_new_file = os.replace, []

    def spy(src, dst, *args, **kwargs):
        if os.fspath(dst) == path:
            reports_beside_new_file.append(os.path.exists(predict.report_path(path)))
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    second = export.export_model(_logits_model(), path, format="tflite", parity_images=10)
    monkeypatch.undo()
    assert reports_beside_new_file == [False]
    assert report() == second and second["outputs"] == "logits"
    assert second["sizes"]["exported_bytes"] == os.path.getsize(path)
    assert sorted(os.listdir(tmp_path)) == ["m.tflite", "m.tflite.json"]


def test_a_report_path_in_the_way_is_refused_before_converting(capsys, trained, tmp_path, monkeypatch):
    (tmp_path / "m.tflite.json").mkdir()
    monkeypatch.setattr(export, "tflite_bytes", lambda *a, **k: pytest.fail("converted"))
    out = str(tmp_path / "m.tflite")
    code, stdout, err = run(capsys, "export", trained, "--format", "tflite", "--parity-images", "8", "--out", out)
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "is a directory", f"Received: out={out!r}")
    assert "Errno" not in err and ".partial" not in err
    assert os.listdir(tmp_path) == ["m.tflite.json"] and os.listdir(tmp_path / "m.tflite.json") == []


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    from zoo.callbacks import atomic_write

    def fail(f):
        f.write("half")
        raise ValueError("write exploded")

    with pytest.raises(ValueError, match="exploded"):
        atomic_write(str(tmp_path / "a.json"), fail)
    (tmp_path / "b.json").mkdir()  # the rename fails
    with pytest.raises(OSError):
        atomic_write(str(tmp_path / "b.json"), lambda f: f.write("{}"))
    assert os.listdir(tmp_path) == ["b.json"]


@pytest.mark.parametrize(
    "format,out,fragment",
    [
        ("tflite", "", "is empty"),
        ("tflite", "sub/", "ends in a folder separator"),
        ("onnx", "m.onnx/", "ends in a folder separator"),
        ("tflite", "m.onnx", "ends in .onnx"),
        ("tflite", "m.keras", "ends in .keras"),
        ("onnx", "m.tflite", "ends in .tflite"),
        ("onnx", "m.H5", "ends in .h5"),
        ("saved_model", "sm.tflite", "ends in .tflite"),
    ],
)
def test_bad_out_is_refused_before_converting(capsys, trained, tmp_path, monkeypatch, format, out, fragment):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(export, "dataset_images", lambda *a, **k: pytest.fail("went on to export"))
    code, stdout, err = run(capsys, "export", trained, "--format", format, "--parity-images", "8", "--out", out)
    assert code == 1 and stdout == ""
    assert_one_line_error(err, fragment, f"Received: out={out!r}")
    assert "Errno" not in err and ".tmp-" not in err
    assert os.listdir(tmp_path) == []


def test_a_failed_export_removes_the_folders_it_made(trained, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise ValueError("converter exploded")

    monkeypatch.setattr(export, "tflite_bytes", fail)
    (tmp_path / "kept").mkdir()
    for out in ("new/sub/m.tflite", "kept/new/m.tflite"):
        with pytest.raises(ValueError, match="exploded"):
            export.export_model(trained, str(tmp_path / out), format="tflite", parity_images=8)
    assert os.listdir(tmp_path) == ["kept"] and os.listdir(tmp_path / "kept") == []
