"""`zoo predict`: probabilities decided per model, never per batch, and images
decoded to the pixels the training folder pipeline gives."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_one_line_error
from PIL import Image

import zoo
from zoo import export, predict
from zoo.data import load_dataset

BIAS = np.linspace(0.0, 0.9, 10)  # logits of a black image, all inside [0, 1]


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A black digit and a noisy one, as 28x28 grey PNGs."""
    folder = tmp_path_factory.mktemp("digits")
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    for name, pixels in (("black", np.zeros((28, 28), np.uint8)), ("noise", noise)):
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return str(folder / "black.png"), str(folder / "noise.png")


@pytest.fixture(scope="module")
def logits_file(tmp_path_factory):
    """mnist_convnet without its softmax, biased so a black image's logits lie in [0, 1]."""
    keras.utils.set_random_seed(0)
    model = zoo.mnist_convnet(classifier_activation=None)
    kernel, _ = model.get_layer("predictions").get_weights()
    model.get_layer("predictions").set_weights([kernel, BIAS.astype("float32")])
    path = str(tmp_path_factory.mktemp("logits") / "logits.keras")
    model.save(path)
    return path


def _probabilities(model, images):
    """`{image: probabilities by class index}` from `predict_files`."""
    results = predict.predict_files(model, images, top_k=10)
    return {r["image"]: np.array([c["probability"] for c in sorted(r["top_k"], key=lambda c: c["index"])])
            for r in results}


def _assert_per_model_softmax(model, digits):
    black, noise = digits
    alone = _probabilities(model, [black])[black]
    together = _probabilities(model, [black, noise])[black]
    np.testing.assert_allclose(alone, together, atol=1e-6)
    np.testing.assert_allclose(alone, _softmax(BIAS), atol=1e-5)
    assert abs(alone.sum() - 1) < 1e-5


def test_logits_are_softmaxed_per_model_not_per_batch(logits_file, digits):
    _assert_per_model_softmax(logits_file, digits)
    assert predict.load_predictor(logits_file).outputs == "logits"


@pytest.mark.parametrize("fmt", ["saved_model", "tflite"])
def test_exported_logits_are_softmaxed_per_model(logits_file, digits, fmt, tmp_path):
    path = str(tmp_path / ("sm" if fmt == "saved_model" else "m.tflite"))
    report = export.export_model(logits_file, path, format=fmt, parity_images=16)
    _assert_per_model_softmax(path, digits)
    assert report["outputs"] == "logits"
    with open(predict.report_path(path)) as f:
        assert json.load(f)["outputs"] == "logits"
    # Without its report, the export's graph decides: its last op is no softmax.
    os.remove(predict.report_path(path))
    assert predict.load_predictor(path).outputs == "logits"
    _assert_per_model_softmax(path, digits)


def test_exported_softmax_is_probabilities_with_or_without_report(tmp_path):
    path = str(tmp_path / "m.tflite")
    report = export.export_model(zoo.mnist_convnet(), path, format="tflite", quantize="int8",
                                 calibration_images=16, parity_images=16)
    assert report["outputs"] == "probabilities"
    assert predict.load_predictor(path).outputs == "probabilities"
    os.remove(predict.report_path(path))
    assert predict.load_predictor(path).outputs == "probabilities"  # SOFTMAX, then QUANTIZE


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_probabilities_pass_through_unchanged(activation, digits, tmp_path):
    path = str(tmp_path / f"{activation}.keras")
    model = zoo.mnist_convnet(classifier_activation=activation)
    model.save(path)
    black, noise = digits
    got = _probabilities(path, [black, noise])
    x = np.stack([np.asarray(Image.open(p), "float32")[..., None] for p in (black, noise)])
    expected = model.predict_on_batch(x)
    np.testing.assert_allclose(np.stack([got[black], got[noise]]), expected, atol=1e-6)


def test_output_kind_reads_the_last_activation():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    nested = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Softmax()])
    probabilities = [
        keras.layers.Activation("softmax")(dense(inputs)),
        keras.layers.Dropout(0.5)(keras.layers.Softmax()(dense(inputs))),
        keras.layers.Activation("linear", dtype="float32")(keras.layers.Dense(3, activation="sigmoid")(inputs)),
        nested(inputs),
    ]
    logits = [dense(inputs), keras.layers.Dense(3, activation="relu")(inputs), inputs]
    for outputs, kind in [(o, "probabilities") for o in probabilities] + [(o, "logits") for o in logits]:
        assert predict.output_kind(keras.Model(inputs, outputs)) == kind
    assert predict.output_kind(zoo.cifar10_net(filters=(8, 8, 8), classifier_activation=None)) == "logits"
    with pytest.raises(ValueError, match="Received: outputs='scores'"):
        predict.Predictor(dense, (4,), "keras", "scores")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """A folder of one 16-bit grey PNG, one 8-bit RGB PNG and one JPEG, 20x24, a class each."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    grey16 = (np.linspace(0, 65535, 20 * 24).reshape(20, 24, 1)).astype(np.uint16)
    rgb = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    files = {"a/grey16.png": tf.io.encode_png(grey16), "b/rgb.png": tf.io.encode_png(rgb),
             "c/photo.jpg": tf.io.encode_jpeg(rgb, quality=90)}
    for split in ("train", "test"):
        for name, content in files.items():
            (root / split / name).parent.mkdir(parents=True, exist_ok=True)
            tf.io.write_file(str(root / split / name), content)
    assert Image.open(root / "test/a/grey16.png").mode == "I;16"
    return root


@pytest.mark.parametrize("size", [(20, 24), (28, 28)])
@pytest.mark.parametrize("channels", [1, 3])
def test_images_decode_as_the_training_folder_pipeline(image_folder, size, channels):
    data = load_dataset("folder", str(image_folder), image_size=size, channels=channels, batch_size=8,
                        validation_split=0.0)
    (trained_on,) = [np.asarray(x) for x, _ in data.test]
    names = ["a/grey16.png", "b/rgb.png", "c/photo.jpg"]  # the pipeline's order: by class
    for name, expected in zip(names, trained_on):
        got = predict.read_image(image_folder / "test" / name, (*size, channels))
        assert got.dtype == np.uint8 and got.shape == (*size, channels)
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_sixteen_bit_pngs_are_scaled_not_clipped(image_folder):
    got = predict.read_image(image_folder / "test/a/grey16.png", (None, None, 1))
    assert got.min() == 0 and got.max() == 255 and len(np.unique(got)) > 200


def test_bad_and_huge_images_are_one_line_errors(image_folder, tmp_path, monkeypatch):
    content = (image_folder / "test/b/rgb.png").read_bytes()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError) as e:
        predict.read_image(truncated, (28, 28, 1))
    assert_one_line_error(str(e.value), "Could not read the image", str(truncated))
    assert "Op:" not in str(e.value)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 480 pixels: a warning only, to PIL
    with pytest.raises(ValueError) as e:
        predict.read_image(image_folder / "test/b/rgb.png", (28, 28, 3))
    assert_one_line_error(str(e.value), "Could not read the image", "rgb.png")
