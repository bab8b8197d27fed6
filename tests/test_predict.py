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


@pytest.fixture(scope="module")
def logits_tflite(logits_file):
    """The logits model as TFLite bytes."""
    return export.tflite_bytes(predict.load_keras_model(logits_file))


def _write_export(content, path, **report):
    """Writes an exported file and a report beside it naming its name and size, as `zoo.export` does."""
    path.write_bytes(content)
    report = {"file": path.name, "sizes": {"exported_bytes": len(content)}, **report}
    with open(predict.report_path(path), "w") as f:
        json.dump(report, f)
    assert predict.export_report(path) == report  # the file's own
    return str(path)


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


def test_a_report_of_another_file_is_not_used(logits_file, digits, tmp_path):
    """A report left beside a file replaced since (here by the logits model's
    bytes, written as another tool would) is not the file's own: its
    `outputs` and classes go unused, and the graph decides."""
    path = str(tmp_path / "m.tflite")
    report = export.export_model(zoo.mnist_convnet(), path, format="tflite", parity_images=16,
                                 classes=list("abcdefghij"))
    assert report["outputs"] == "probabilities" and predict.class_names(path) == list("abcdefghij")
    with open(path, "wb") as f:
        f.write(export.tflite_bytes(predict.load_keras_model(logits_file)))
    assert os.path.exists(predict.report_path(path))
    predictor = predict.load_predictor(path)
    assert predictor.outputs == "logits" and predictor.classes is None
    _assert_per_model_softmax(path, digits)
    assert predict.export_report(path) == {} and predict.class_names(path) is None


def test_an_export_report_is_read_once(logits_tflite, tmp_path, monkeypatch):
    """`load_predictor` takes `outputs` and classes from one reading of the
    report (checking its size walks a SavedModel's directory)."""
    path = _write_export(logits_tflite, tmp_path / "m.tflite", outputs="logits", classes=list("abcdefghij"))
    sized, size_bytes = [], predict.size_bytes
    monkeypatch.setattr(predict, "size_bytes", lambda p: (sized.append(p), size_bytes(p))[1])
    predictor = predict.load_predictor(path)
    assert sized == [path]
    assert predictor.outputs == "logits" and predictor.classes == list("abcdefghij")
    assert predictor.report == predict.report_path(path) and predict.class_names(path) == list("abcdefghij")


def test_a_report_calling_logits_probabilities_is_refused(digits, tmp_path):
    """A report beside an export that says its outputs are probabilities, for
    a model whose outputs are logits, describes another model: outputs
    outside [0, 1] stop the prediction, naming the file, rather than show
    logits as probabilities."""
    inputs = keras.Input((28, 28, 1))
    logits = keras.layers.Dense(3, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant([-1, 0, 3]))
    content = export.tflite_bytes(keras.Model(inputs, logits(keras.layers.Flatten()(inputs))))
    path = _write_export(content, tmp_path / "m.tflite", outputs="probabilities")
    with pytest.raises(ValueError) as e:
        predict.predict_files(path, list(digits))
    assert_one_line_error(
        str(e.value), f"The model {path!r} output 3, outside [0, 1]", predict.report_path(path),
        "the report does not describe this model", "export the model again, or delete the report",
        f". Received: model={path!r}, output=3",
    )
    os.remove(predict.report_path(path))  # the graph decides: logits
    assert predict.predict_files(path, list(digits), top_k=1)[0]["top_k"][0]["index"] == 2


def test_probabilities_may_round_past_zero_and_one(digits):
    """float16 and int8 exports round their probabilities a little past [0, 1]:
    that passes; more is refused, for a `Predictor` made by hand too."""
    black, _ = digits

    def predictor(outputs):
        return predict.Predictor(lambda x: np.array([outputs], "float32"), (28, 28, 1), "tflite", "probabilities")

    (result,) = predict.predict_files(predictor([1.0005, -0.0005, 0.0]), [black], top_k=1)
    assert result["top_k"][0]["index"] == 0
    with pytest.raises(ValueError) as e:
        predict.predict_files(predictor([0.5, 1.25, -0.02]), [black])
    assert_one_line_error(str(e.value), "The model output 1.25, outside [0, 1]", "outputs='logits'",
                          ". Received: output=1.25")


def test_images_are_decoded_and_run_in_batches(logits_file, digits, monkeypatch):
    """`predict_files` decodes and runs `BATCH` images at a time: memory does
    not grow with the number of images, and the results are the same."""
    black, noise = digits
    files = [black, noise] * 5
    predictor = predict.load_predictor(logits_file)
    everything = predict.predict_files(predictor, files, top_k=10)
    calls, run = [], predictor.run
    predictor.run = lambda x: (calls.append(len(x)), run(x))[1]
    decoded, read_image = [], predict.read_image
    monkeypatch.setattr(predict, "read_image", lambda *a: (decoded.append(len(calls)), read_image(*a))[1])
    monkeypatch.setattr(predict, "BATCH", 4)
    got = predict.predict_files(predictor, files, top_k=10)
    assert calls == [4, 4, 2] and decoded == [0] * 4 + [1] * 4 + [2] * 2
    assert [r["image"] for r in got] == files
    for a, b in zip(got, everything):
        assert [c["index"] for c in a["top_k"]] == [c["index"] for c in b["top_k"]]
        np.testing.assert_allclose([c["probability"] for c in a["top_k"]],
                                   [c["probability"] for c in b["top_k"]], atol=1e-6)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP"])
def test_colour_only_formats_are_read_by_grey_models(fmt, tmp_path):
    """TensorFlow decodes GIF, BMP and WebP to colour only: a 1-channel model
    gets them as grey, the same pixels as a PNG of the same grey image, and
    colour ones through `tf.image.rgb_to_grayscale`, alpha dropped."""
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    lossless = {"lossless": True, "exact": True} if fmt == "WEBP" else {}
    Image.fromarray(grey).save(tmp_path / "grey.img", format=fmt, **lossless)
    for shape in ((20, 24, 1), (28, 28, 1)):
        np.testing.assert_array_equal(predict.read_image(tmp_path / "grey.img", shape),
                                      predict.read_image(tmp_path / "grey.png", shape))
    rgba = rng.integers(0, 256, (20, 24, 4), dtype=np.uint8)
    colour = Image.fromarray(rgba if fmt == "WEBP" else rgba[..., :3])
    colour.save(tmp_path / "colour.img", format=fmt, **lossless)
    rgb = predict.read_image(tmp_path / "colour.img", (20, 24, 3))
    if fmt != "GIF":  # a GIF holds a 256-colour palette of the image
        np.testing.assert_array_equal(rgb, rgba[..., :3])
    np.testing.assert_array_equal(predict.read_image(tmp_path / "colour.img", (20, 24, 1)),
                                  tf.image.rgb_to_grayscale(rgb).numpy())


def test_a_cmyk_jpeg_is_read_by_grey_models_through_rgb(tmp_path):
    """TensorFlow decodes a CMYK JPEG to colour but not to grey: a 1-channel model
    gets it through `tf.image.rgb_to_grayscale`, as the training folder pipeline does."""
    cmyk = np.random.default_rng(1).integers(0, 256, (20, 24, 4), dtype=np.uint8)
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    rgb = predict.read_image(tmp_path / "cmyk.jpg", (20, 24, 3))
    np.testing.assert_array_equal(predict.read_image(tmp_path / "cmyk.jpg", (20, 24, 1)),
                                  tf.image.rgb_to_grayscale(rgb).numpy())


def test_a_model_that_takes_no_images_is_refused_at_load(tmp_path):
    path = str(tmp_path / "vector.keras")
    inputs = keras.Input((784,))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs)).save(path)
    with pytest.raises(ValueError) as e:
        predict.load_predictor(path)
    assert_one_line_error(str(e.value), "expects (height, width, channels) images", "Received: input_shape=(784,)")


def test_a_tflite_file_is_known_by_its_identifier_whatever_its_suffix(logits_tflite, digits, tmp_path):
    content = logits_tflite
    for name in ("m.onnx", "m.keras", "m.bin"):
        (tmp_path / name).write_bytes(content)
        assert predict.model_kind(tmp_path / name) == "tflite"
        _assert_per_model_softmax(str(tmp_path / name), digits)
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04" + b"\0" * 8)
    assert predict.model_kind(tmp_path / "m.keras") == "keras"


def test_errors_name_the_value_received(tmp_path):
    import zipfile

    junk = str(tmp_path / "junk.keras")
    with zipfile.ZipFile(junk, "w") as z:
        z.writestr("config.json", "{not json")
    text = tmp_path / "text.keras"
    text.write_text("not a zip")
    bad_tflite = str(tmp_path / "bad.tflite")
    with open(bad_tflite, "wb") as f:
        f.write(b"\0\0\0\0TFL3" + b"\x07" * 64)
    image = tmp_path / "junk.png"
    image.write_bytes(b"not an image" * 10)
    inputs = keras.Input((28, 28, 1))
    two = str(tmp_path / "two.keras")
    keras.Model(inputs, [keras.layers.Flatten()(inputs), keras.layers.Flatten()(inputs)]).save(two)
    maps = str(tmp_path / "maps.keras")
    keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs)).save(maps)
    cases = [
        (lambda: predict.load_keras_model(junk), ["Could not load", f"Received: model={junk!r}"]),
        (lambda: predict.load_keras_model(text), ["corrupt or truncated", f"Received: model={str(text)!r}"]),
        (lambda: predict.TFLiteRunner(bad_tflite), ["Could not read the TFLite model", f"Received: model={bad_tflite!r}"]),
        (lambda: predict.TFLiteRunner(b"\0\0\0\0TFL3" + b"\x07" * 64),
         ["Could not read the TFLite model", "Received: model=<72 bytes>"]),
        (lambda: predict.read_image(image, (28, 28, 1)), ["Could not read the image", f"Received: image={str(image)!r}"]),
        (lambda: predict.load_predictor(two), ["one input and one output", "has 1 and 2", f"Received: model={two!r}"]),
    ]
    for call, fragments in cases:
        with pytest.raises(ValueError) as e:
            call()
        assert_one_line_error(str(e.value), *fragments)
        assert ". Received:" in str(e.value) and ".. Received" not in str(e.value), str(e.value)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(ValueError) as e:
        predict.predict_files(maps, [str(tmp_path / "black.png")])
    assert_one_line_error(str(e.value), "Expected a classifier", "Received: output_shape=(26, 26, 2)")


def test_a_misspelt_model_tag_names_close_models(tmp_path, monkeypatch):
    """`zoo predict mnist_convnt:mnist` says the model is unknown, as `zoo train` does,
    rather than that no such file exists; a missing file is still named so."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as e:
        predict.load_predictor("mnist_convnt:mnist")
    assert_one_line_error(str(e.value), "Unknown model", "Did you mean 'mnist_convnet:mnist'",
                          "Received: model='mnist_convnt:mnist'")
    for missing in ("model.keras", "runs/m/model.keras", "mnist_convnet.keras"):
        with pytest.raises(FileNotFoundError, match="No such model file or directory"):
            predict.load_predictor(missing)
