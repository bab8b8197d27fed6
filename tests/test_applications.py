"""ResNet-50 and MobileNetV2: interchangeable with keras.applications, and their weights."""

import hashlib
import re
import time

import keras
import numpy as np
import pytest
from conftest import calibrate_batch_norm, pixels, save_keras_applications_h5, weighted_layers

import zoo
from zoo.features import stage_ends
from zoo.models import mobilenet, resnet


class Family:
    def __init__(self, ours, theirs, preprocess, first_conv, module, notop_file):
        self.ours, self.theirs, self.preprocess = ours, theirs, preprocess
        self.first_conv, self.module, self.notop_file = first_conv, module, notop_file


FAMILIES = {
    "resnet50": Family(
        zoo.resnet50, keras.applications.ResNet50, keras.applications.resnet50.preprocess_input,
        "conv1_conv", resnet, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "mobilenet_v2": Family(
        zoo.mobilenet_v2, keras.applications.MobileNetV2, keras.applications.mobilenet_v2.preprocess_input,
        "Conv1", mobilenet, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5",
    ),
}
each_family = pytest.mark.parametrize("family", list(FAMILIES))


def randomize(model, seed=0):
    """Random weights everywhere, batch-norm statistics included, so nothing
    matches by accident (fresh statistics are 0 and 1)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if w.path.endswith(("moving_variance", "gamma")):
            w.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            w.assign(rng.normal(0, 0.05, shape).astype("float32"))
    return model


def _close(actual, expected, tol=1e-5):
    actual, expected = np.asarray(actual), np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * np.abs(expected).max())


@pytest.fixture
def notop(request, tmp_path):
    """A keras.applications `_notop` file with random weights, for the
    family in `request.param`, and the keras.applications model holding them."""
    family = FAMILIES[request.param]
    reference = randomize(family.theirs(weights=None, include_top=False, input_shape=(96, 96, 3)))
    path = save_keras_applications_h5(reference, str(tmp_path / family.notop_file))
    return family, path, reference


each_notop = pytest.mark.parametrize("notop", list(FAMILIES), indirect=True)


@each_family
@pytest.mark.parametrize("shape", [(64, 64, 3), (57, 61, 3)])
def test_equals_keras_applications(family, shape):
    f = FAMILIES[family]
    reference = randomize(f.theirs(weights=None, input_shape=shape, classes=10, classifier_activation=None))
    model = f.ours(input_shape=shape, classes=10, classifier_activation=None)
    raw = f.ours(input_shape=shape, classes=10, classifier_activation=None, include_preprocessing=False)
    assert weighted_layers(model) == weighted_layers(reference) == weighted_layers(raw)
    model.set_weights(reference.get_weights())
    raw.set_weights(reference.get_weights())
    x = pixels((2, *shape)).astype("float32")
    _close(model(x), reference(f.preprocess(x.copy())))
    np.testing.assert_array_equal(np.asarray(raw(x)), np.asarray(reference(x)))


def test_parameter_counts():
    for kwargs in ({}, {"include_preprocessing": False}):
        assert zoo.resnet50(**kwargs).count_params() == 25_636_712
        assert zoo.resnet50(include_top=False, **kwargs).count_params() == 23_587_712
        assert zoo.mobilenet_v2(**kwargs).count_params() == 3_538_984
        assert zoo.mobilenet_v2(include_top=False, **kwargs).count_params() == 2_257_984


@pytest.mark.parametrize("alpha", [0.35, 0.5, 0.75, 1.3, 1.4])
def test_every_alpha_has_keras_applications_shapes(alpha):
    reference = keras.applications.MobileNetV2(weights=None, alpha=alpha, input_shape=(96, 96, 3))
    model = zoo.mobilenet_v2(alpha=alpha, input_shape=(96, 96, 3))
    assert weighted_layers(model) == weighted_layers(reference)


def test_flops_match_the_papers():
    # He et al.: 3.8 G multiply-adds for ResNet-50 (stride in the first 1x1
    # convolution, as keras.applications has it); Sandler et al.: 300 M for
    # MobileNetV2 1.0 at 224x224. zoo counts 2 FLOPs per multiply-add.
    assert 3.8e9 <= zoo.model_info("resnet50")["flops"] / 2 < 3.9e9
    assert abs(zoo.model_info("mobilenet_v2")["flops"] / 2 - 300e6) < 3e6


def test_flops_of_separable_and_transposed_convolutions():
    """zoo.count_flops counted SeparableConv, ConvTranspose and DepthwiseConv1D layers as 0."""
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.SeparableConv2D(4, 3, depth_multiplier=2),  # 6x6 out: 6 channels of 3x3 taps, then 6->4
        keras.layers.Conv2DTranspose(5, 3),  # 8x8 out: each of 6*6*4 inputs scatters a 3x3x5 block
        keras.layers.Reshape((64, 5)),
        keras.layers.DepthwiseConv1D(3),  # 62 out: 5 channels of 3 taps
        keras.layers.SeparableConv1D(2, 3),  # 60 out: 5 channels of 3 taps, then 5->2
        keras.layers.Conv1DTranspose(1, 2),  # each of 60*2 inputs scatters a 2x1 block
    ])
    assert zoo.count_flops(model) == 2 * (
        6 * 6 * 6 * 9 + 6 * 6 * 6 * 4
        + 6 * 6 * 4 * 9 * 5
        + 62 * 5 * 3
        + 60 * 5 * 3 + 60 * 5 * 2
        + 60 * 2 * 2 * 1
    )


def test_flops_of_bad_input_is_one_value_error():
    with pytest.raises(ValueError, match="must be a built Keras model"):
        zoo.count_flops(keras.Sequential([keras.layers.Conv2D(4, 3)]))  # was an AttributeError
    with pytest.raises(ValueError, match="fixed input size"):
        zoo.count_flops(keras.Sequential([keras.Input((None, 5)), keras.layers.Dense(3)]))  # was a TypeError


@each_family
def test_keras3_weight_files_interchange(family, tmp_path):
    f = FAMILIES[family]
    reference = randomize(f.theirs(weights=None, include_top=False, input_shape=(64, 64, 3)))
    path = str(tmp_path / "keras.weights.h5")
    reference.save_weights(path)
    model = f.ours(weights=path, include_top=False, input_shape=(64, 64, 3))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    back = str(tmp_path / "zoo.weights.h5")
    model.save_weights(back)
    again = f.theirs(weights=back, include_top=False, input_shape=(64, 64, 3))
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


@each_notop
def test_loads_a_keras_applications_file(notop):
    family, path, reference = notop
    # The file has the official layout: Keras itself loads it.
    loaded = family.theirs(weights=path, include_top=False, input_shape=(96, 96, 3))
    for a, b in zip(loaded.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    model = family.ours(weights=path, include_top=False, input_shape=(80, 72, 3), pooling="avg")
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


@each_notop
def test_features_equal_keras_applications_layers(notop):
    family, path, reference = notop
    features = family.ours(features_only=True, weights=path, input_shape=(96, 96, 3), include_preprocessing=False)
    ends = stage_ends(family.ours(include_top=False, input_shape=(96, 96, 3)))
    taps = keras.Model(reference.input, [reference.get_layer(n).output for n in ends])
    x = pixels((2, 96, 96, 3)).astype("float32")
    for ours, theirs in zip(features(x), taps(x)):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert [f["reduction"] for f in zoo.model_info(family.ours.__name__)["feature_info"]] == [2, 4, 8, 16, 32]


@each_notop
def test_new_head_for_other_classes(notop):
    family, path, reference = notop
    model = family.ours(weights=path, classes=7, input_shape=(64, 64, 3))
    assert model.output_shape == (None, 7)
    for layer in reference.layers[1:]:  # after the input layer
        for a, b in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)


@each_notop
def test_the_full_head_needs_a_full_file(notop):
    family, path, _ = notop
    with pytest.raises(ValueError, match=r"holds no weights for layer 'predictions'") as info:
        family.ours(weights=path, input_shape=(96, 96, 3))
    assert path in str(info.value) and "\n" not in str(info.value)


@each_family
def test_full_file_with_its_head(family, tmp_path):
    f = FAMILIES[family]
    reference = randomize(f.theirs(weights=None, input_shape=(64, 64, 3)))
    path = save_keras_applications_h5(reference, str(tmp_path / "top.h5"))
    model = f.ours(weights=path, input_shape=(64, 64, 3))
    x = pixels((2, 64, 64, 3)).astype("float32")
    _close(model(x), reference(f.preprocess(x.copy())), tol=1e-4)
    headless = f.ours(weights=path, include_top=False, input_shape=(32, 32, 3))  # the base of a top file
    np.testing.assert_array_equal(
        np.asarray(headless.get_layer(f.first_conv).kernel), np.asarray(reference.get_layer(f.first_conv).kernel)
    )


def test_other_architectures_files_are_refused(tmp_path):
    path = save_keras_applications_h5(
        keras.applications.MobileNetV2(weights=None, include_top=False, alpha=0.35, input_shape=(96, 96, 3)),
        str(tmp_path / "narrow.h5"),
    )
    with pytest.raises(ValueError, match=r"do not fit layer 'Conv1'"):
        zoo.mobilenet_v2(weights=path, include_top=False)
    with pytest.raises(ValueError, match=r"does not hold the convolutional base of 'resnet50'"):
        zoo.resnet50(weights=path, include_top=False)


@pytest.mark.parametrize("name", ["resnet50.h5", "mobilenet_v2.h5"])
def test_corrupt_files_are_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"not an hdf5 file")
    factory = zoo.resnet50 if name.startswith("resnet") else zoo.mobilenet_v2
    with pytest.raises(ValueError, match="Could not read keras.applications weights") as info:
        factory(weights=str(path), include_top=False)
    assert str(path) in str(info.value)


@each_notop
def test_one_channel_model_sees_what_the_rgb_model_sees(notop):
    family, path, _ = notop
    rgb = family.ours(weights=path, include_top=False, input_shape=(64, 64, 3))
    grey = family.ours(weights=path, include_top=False, input_shape=(64, 64, 1))
    g = pixels((2, 64, 64, 1)).astype("float32")
    probe = [family.first_conv]

    def first(model, x):
        out = zoo.feature_extractor(model, probe)(x)
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)

    if family.ours is zoo.mobilenet_v2:
        # The same preprocessing on every channel: exact, borders and all, to the output.
        _close(grey(g), rgb(np.repeat(g, 3, axis=-1)), tol=1e-4)
    else:
        # The channel means folded into the bias: exact inside; the 7x7 stem's
        # zero padding differs on its 2-pixel output border.
        _close(first(grey, g)[:, 2:-2, 2:-2], first(rgb, np.repeat(g, 3, axis=-1))[:, 2:-2, 2:-2], tol=1e-4)
    four = family.ours(weights=path, include_top=False, input_shape=(64, 64, 4))
    _close(first(four, np.repeat(g, 4, axis=-1)), first(grey, g), tol=1e-4)


def test_alpha_is_checked():
    for alpha in (0, -1.0, "1.0", True):
        with pytest.raises(ValueError, match=re.escape(f"Received: alpha={alpha!r}")):
            zoo.mobilenet_v2(alpha=alpha)
    with pytest.raises(ValueError, match=re.escape("Received: alpha=0.6")):
        zoo.mobilenet_v2(alpha=0.6, weights="imagenet")
    assert zoo.mobilenet_v2(alpha=0.6, include_top=False, input_shape=(32, 32, 3)).output_shape == (None, 1, 1, 1280)


@pytest.fixture
def imagenet_from(monkeypatch, tmp_path):
    """Points a family's ImageNet downloads at a local folder, with a fresh cache."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    served = tmp_path / "server"
    served.mkdir()

    def serve(module, files, md5s=None):
        for name, source in files.items():
            (served / name).write_bytes(open(source, "rb").read())
        monkeypatch.setattr(module, "_WEIGHTS_URL", f"file://{served}/{{file}}")
        for key, md5 in (md5s or {}).items():
            monkeypatch.setitem(module.IMAGENET_WEIGHTS, key, md5)
        return served, tmp_path / "keras_home" / "models"

    return serve


@pytest.mark.parametrize("notop", ["resnet50"], indirect=True)
def test_resnet_download_is_md5_checked_and_cached(notop, imagenet_from):
    _, path, reference = notop
    fname = resnet.IMAGENET_WEIGHTS[("resnet50", False)][0]
    md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
    served, cache = imagenet_from(resnet, {fname: path}, {("resnet50", False): (fname, md5)})
    model = zoo.resnet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3))
    assert (cache / fname).exists()
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    (served / fname).unlink()  # the cache answers from now on
    zoo.resnet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3), classes=5)
    imagenet_from(resnet, {}, {("resnet50", False): (fname, "0" * 32)})
    with pytest.raises(ValueError, match="Could not get the ImageNet weights"):
        zoo.resnet50(weights="imagenet", include_top=False)


@pytest.mark.parametrize("notop", ["mobilenet_v2"], indirect=True)
def test_mobilenet_download_is_pinned_on_first_use(notop, imagenet_from):
    family, path, reference = notop
    served, cache = imagenet_from(mobilenet, {family.notop_file: path})
    # The file for the input size asked for: 96x96.
    model = zoo.mobilenet_v2(weights="imagenet", include_top=False, input_shape=(96, 96, 3))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    pin = cache / (family.notop_file + ".sha256")
    assert pin.read_text().strip() == hashlib.sha256(open(path, "rb").read()).hexdigest()
    # Features and a new head come from the same file.
    zoo.mobilenet_v2(weights="imagenet", features_only=True, input_shape=(96, 96, 3))
    zoo.mobilenet_v2(weights="imagenet", classes=3, input_shape=(96, 96, 3))
    # Other sizes take the 224x224 file, with a warning, as keras.applications does.
    with pytest.warns(UserWarning, match="100x100"), pytest.raises(ValueError, match="_1.0_224_no_top.h5"):
        zoo.mobilenet_v2(weights="imagenet", include_top=False, input_shape=(100, 100, 3))
    cached = cache / family.notop_file
    cached.write_bytes(cached.read_bytes()[:-1] + b"x")  # the cache changed since it was pinned
    with pytest.raises(ValueError, match="changed since it was downloaded") as info:
        zoo.mobilenet_v2(weights="imagenet", include_top=False, input_shape=(96, 96, 3))
    message = str(info.value)
    # The advice is whole, however long the cache's path.
    assert f"delete {cached} and {pin} to download it again" in message
    assert message.endswith("Received: weights='imagenet'") and "\n" not in message


@pytest.mark.parametrize("notop", ["mobilenet_v2"], indirect=True)
def test_mobilenet_unreadable_cache_is_not_pinned(notop, imagenet_from):
    """A damaged cached file is not pinned, so the good copy that replaces it loads."""
    family, path, reference = notop
    _, cache = imagenet_from(mobilenet, {})
    cache.mkdir(parents=True)
    cached, pin = cache / family.notop_file, cache / (family.notop_file + ".sha256")
    cached.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError) as info:
        zoo.mobilenet_v2(weights="imagenet", include_top=False, input_shape=(96, 96, 3))
    assert not pin.exists()
    message = str(info.value)
    assert f"{cached} cannot be read" in message and "delete it to download it again" in message
    assert message.endswith("Received: weights='imagenet'") and "\n" not in message
    cached.write_bytes(open(path, "rb").read())  # a good copy, as the message says
    model = zoo.mobilenet_v2(weights="imagenet", include_top=False, input_shape=(96, 96, 3))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert pin.read_text().strip() == hashlib.sha256(cached.read_bytes()).hexdigest()


@each_family
def test_offline_without_cache_fails_fast(family, monkeypatch, tmp_path):
    f = FAMILIES[family]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    # Port 9 (discard) on localhost refuses the connection, as an offline host would.
    monkeypatch.setattr(f.module, "_WEIGHTS_URL", "http://127.0.0.1:9/{file}")
    start = time.monotonic()
    with pytest.raises(ValueError) as info:
        f.ours(weights="imagenet", include_top=False, input_shape=(96, 96, 3))
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert f.notop_file in message
    assert "weights='/path/to/" in message and "keras_home" in message and "\n" not in message



@pytest.mark.parametrize("name", ["mobilenet_v2", pytest.param("resnet50", marks=pytest.mark.slow)])
def test_int8_export(name, tmp_path):
    """int8 TFLite: fully integer with raw uint8 pixels in, and faithful where
    random weights allow a judgement.

    Through the preprocessing, the stem and the first stage the int8 maps
    follow the float ones closely (correlation 0.997 for both when measured
    on an AMD EPYC Zen 4). Deeper, quantisation noise compounds in a network
    with random weights (logit correlation 0.65 measured), so the whole
    classifier is only checked to convert; the accuracy of an int8 ImageNet
    model needs its pretrained weights, which this suite cannot download.
    """
    from zoo import export
    from zoo.data import read_sample
    from zoo.predict import TFLiteRunner

    _, (x, _), _ = read_sample("cifar10:sample")
    x = x.astype("float32")
    stage = calibrate_batch_norm(zoo.create_model(name, input_shape=(32, 32, 3), features_only=True,
                                                  out_indices=[1]), x[:256])
    got = export.run_tflite(export.tflite_bytes(stage, "int8", x[:100]), x[100:200])
    assert np.corrcoef(got.ravel(), stage.predict(x[100:200], verbose=0).ravel())[0, 1] > 0.99
    model = calibrate_batch_norm(zoo.create_model(name, input_shape=(32, 32, 3), classes=10), x[:256])
    path = str(tmp_path / "int8.tflite")
    report = export.export_model(model, path, format="tflite", quantize="int8", calibration_images=100,
                                 parity_images=50)
    runner = TFLiteRunner(path)
    assert runner.input["dtype"] == np.uint8 and runner.input["quantization"] == (1.0, 0)
    assert report["parity"]["images"] == 50 and report["sizes"]["exported_bytes"] < model.count_params() * 1.5
