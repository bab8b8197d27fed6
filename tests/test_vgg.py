"""VGG: interchangeable with keras.applications, and its weights handling."""

import hashlib
import re
import socket
import threading
import time

import keras
import numpy as np
import pytest
from conftest import pixels, save_keras_applications_h5, weighted_layers

import zoo
from zoo import vgg

SMALL = {"input_shape": (32, 32, 3)}


@pytest.mark.parametrize(
    "ours,theirs",
    [(zoo.vgg16, keras.applications.VGG16), (zoo.vgg19, keras.applications.VGG19)],
)
def test_equals_keras_applications(ours, theirs):
    reference = theirs(weights=None, classes=10, classifier_activation=None, **SMALL)
    model = ours(classes=10, classifier_activation=None, **SMALL)
    raw = ours(classes=10, classifier_activation=None, include_preprocessing=False, **SMALL)
    assert weighted_layers(model) == weighted_layers(reference) == weighted_layers(raw)
    model.set_weights(reference.get_weights())
    raw.set_weights(reference.get_weights())
    x = pixels((2, 32, 32, 3)).astype("float32")
    expected = np.asarray(reference(keras.applications.vgg16.preprocess_input(x.copy())))
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(raw(x)), np.asarray(reference(x)))


def test_parameter_counts():
    for kwargs in ({}, {"include_preprocessing": False}):
        assert zoo.vgg16(include_top=False, **kwargs).count_params() == 14_714_688
        assert zoo.vgg19(include_top=False, **kwargs).count_params() == 20_024_384
    assert zoo.vgg16(include_preprocessing=False).count_params() == 138_357_544


def test_keras3_weight_files_interchange(tmp_path):
    reference = keras.applications.VGG16(weights=None, include_top=False, **SMALL)
    path = str(tmp_path / "keras.weights.h5")
    reference.save_weights(path)
    model = zoo.vgg16(weights=path, include_top=False, **SMALL)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    back = str(tmp_path / "zoo.weights.h5")
    model.save_weights(back)
    again = keras.applications.VGG16(weights=back, include_top=False, **SMALL)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras_applications_file_layout(vgg16_notop_file):
    # The fixture writes the official file layout: Keras itself loads it.
    path, reference = vgg16_notop_file
    loaded = keras.applications.VGG16(weights=path, include_top=False, **SMALL)
    for a, b in zip(loaded.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_loads_keras_applications_file(vgg16_notop_file):
    path, reference = vgg16_notop_file
    model = zoo.vgg16(weights=path, include_top=False, input_shape=(48, 40, 3), pooling="max")
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_new_head_for_other_classes(vgg16_notop_file):
    path, reference = vgg16_notop_file
    model = zoo.vgg16(weights=path, classes=7, **SMALL)
    assert model.output_shape == (None, 7)
    for layer in reference.layers[1:]:  # after the input layer
        for a, b in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_pretrained_full_head_needs_224(vgg16_notop_file):
    path, _ = vgg16_notop_file
    with pytest.raises(ValueError, match=re.escape("Received: input_shape=(32, 32, 3)")):
        zoo.vgg16(weights=path, **SMALL)


def test_full_head_missing_from_file(vgg16_notop_file):
    path, _ = vgg16_notop_file
    with pytest.raises(ValueError, match=r"holds no weights for layer 'fc1'") as info:
        zoo.vgg16(weights=path)
    assert path in str(info.value)


def test_one_channel_input_sums_the_first_kernel(vgg16_notop_file):
    path, reference = vgg16_notop_file
    grey = zoo.vgg16(weights=path, include_top=False, input_shape=(32, 32, 1), pooling="avg")
    kernel = np.asarray(reference.get_layer("block1_conv1").kernel)
    np.testing.assert_allclose(
        np.asarray(grey.get_layer("block1_conv1").kernel), kernel.sum(axis=2, keepdims=True), rtol=1e-5, atol=1e-7
    )
    # Each channel's mean, less the grey mean, goes into the bias.
    residual = np.mean(vgg.IMAGENET_MEAN_BGR) - np.array(vgg.IMAGENET_MEAN_BGR)
    np.testing.assert_allclose(
        np.asarray(grey.get_layer("block1_conv1").bias),
        np.asarray(reference.get_layer("block1_conv1").bias) + (kernel * residual[:, None]).sum(axis=(0, 1, 2)),
        rtol=1e-5, atol=1e-5,
    )


def _first_conv(model):
    return keras.Model(model.input, model.get_layer("block1_conv1").output)


@pytest.mark.parametrize("include_preprocessing", [True, False])
def test_one_channel_model_sees_what_the_rgb_model_sees(vgg16_notop_file, include_preprocessing):
    """A grey image gives the RGB model's responses on R = G = B but at the border."""
    path, reference = vgg16_notop_file
    grey = zoo.vgg16(
        weights=path, include_top=False, input_shape=(32, 32, 1), pooling="avg",
        include_preprocessing=include_preprocessing,
    )
    x = pixels((2, 32, 32, 1)).astype("float32")
    rgb = keras.applications.vgg16.preprocess_input(np.repeat(x, 3, axis=-1))
    if not include_preprocessing:
        x = x - vgg.IMAGENET_MEAN_GREY
    ours, theirs = np.asarray(_first_conv(grey)(x)), np.asarray(_first_conv(reference)(rgb))
    np.testing.assert_allclose(ours[:, 1:-1, 1:-1], theirs[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-4)
    # Only the zero-padded border differs: 0.37-0.61 % over 10 random weight
    # draws on such images (3.4-4.9 % before the means went into the bias).
    a, b = np.asarray(grey(x)), np.asarray(reference(rgb)).reshape(2, -1)
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 0.01


@pytest.mark.parametrize("saved_as", ["keras3", "keras_applications"])
def test_one_channel_weight_files_load_as_saved(tmp_path, saved_as):
    # A file that already holds 1-channel weights gets no second fold.
    grey = zoo.vgg16(include_top=False, input_shape=(32, 32, 1))
    if saved_as == "keras3":
        path = str(tmp_path / "grey.weights.h5")
        grey.save_weights(path)
    else:
        path = save_keras_applications_h5(grey, str(tmp_path / "grey.h5"))
    loaded = zoo.vgg16(weights=path, include_top=False, input_shape=(32, 32, 1))
    for a, b in zip(loaded.get_weights(), grey.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_two_channels_take_adapted_pretrained_weights(vgg16_notop_file):
    path, reference = vgg16_notop_file
    two = zoo.vgg16(weights=path, include_top=False, input_shape=(32, 32, 2))
    kernel = np.asarray(reference.get_layer("block1_conv1").kernel)
    np.testing.assert_allclose(
        np.asarray(two.get_layer("block1_conv1").kernel).sum(axis=2), kernel.sum(axis=2), rtol=1e-5, atol=1e-5
    )


def test_vgg19_file_is_refused_by_vgg16(tmp_path):
    other = keras.applications.VGG19(weights=None, include_top=False, **SMALL)
    path = save_keras_applications_h5(other, str(tmp_path / "vgg19_notop.h5"))
    with pytest.raises(ValueError, match=r"block3_conv4") as info:
        zoo.vgg16(weights=path, include_top=False, **SMALL)
    assert path in str(info.value)


@pytest.mark.filterwarnings("ignore:This model usually expects")
def test_mismatched_shapes_are_refused(tmp_path):
    four_channels = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 4))
    path = save_keras_applications_h5(four_channels, str(tmp_path / "w.h5"))
    with pytest.raises(ValueError, match=r"do not fit layer 'block1_conv1'") as info:
        zoo.vgg16(weights=path, include_top=False, **SMALL)
    assert path in str(info.value)


@pytest.mark.parametrize("name", ["w.h5", "w.weights.h5", "w.keras"])
def test_corrupt_files_are_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(ValueError) as info:
        zoo.vgg16(weights=str(path), include_top=False, **SMALL)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_classifier_activation_with_weights(vgg16_notop_file):
    path, _ = vgg16_notop_file
    with pytest.raises(ValueError, match="Received: classifier_activation='relu'"):
        zoo.vgg16(weights=path, classes=10, classifier_activation="relu", **SMALL)


@pytest.fixture
def imagenet_from(monkeypatch, tmp_path):
    """Points the ImageNet notop download at `origin`, with a fresh cache."""

    def serve(origin, md5):
        fname = vgg.IMAGENET_WEIGHTS[("vgg16", False)][0]
        monkeypatch.setitem(vgg.IMAGENET_WEIGHTS, ("vgg16", False), (fname, md5))
        monkeypatch.setattr(vgg, "_WEIGHTS_URL", origin + "/{arch}/{file}")
        return tmp_path / "keras_home" / "models" / fname

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return serve


def test_imagenet_download_is_verified_and_cached(imagenet_from, vgg16_notop_file, tmp_path):
    path, reference = vgg16_notop_file
    served = tmp_path / "server" / "vgg16"
    served.mkdir(parents=True)
    (served / (source := path.split("/")[-1])).write_bytes(open(path, "rb").read())
    md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
    cached = imagenet_from(f"file://{tmp_path / 'server'}", md5)
    assert source == cached.name
    model = zoo.vgg16(weights="imagenet", include_top=False, **SMALL)
    assert cached.exists()
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    (served / source).unlink()  # the cache answers from now on
    zoo.vgg16(weights="imagenet", include_top=False, **SMALL)
    cached.write_bytes(b"corrupt")  # a bad cache is fetched again, and fails offline
    with pytest.raises(ValueError, match="Could not get the ImageNet weights"):
        zoo.vgg16(weights="imagenet", include_top=False, **SMALL)


def test_imagenet_hash_mismatch(imagenet_from, vgg16_notop_file, tmp_path):
    path, _ = vgg16_notop_file
    served = tmp_path / "server" / "vgg16"
    served.mkdir(parents=True)
    (served / path.split("/")[-1]).write_bytes(open(path, "rb").read())
    imagenet_from(f"file://{tmp_path / 'server'}", "0" * 32)
    with pytest.raises(ValueError, match="hash does not match"):
        zoo.vgg16(weights="imagenet", include_top=False, **SMALL)


def test_offline_without_cache_fails_fast(imagenet_from):
    # Port 9 (discard) on localhost refuses the connection, as an offline host would.
    imagenet_from("http://127.0.0.1:9", "0" * 32)
    start = time.monotonic()
    with pytest.raises(ValueError) as info:
        zoo.vgg16(weights="imagenet", include_top=False, **SMALL)
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "weights='/path/to/" in message and "keras_home" in message and "\n" not in message


def test_silent_server_times_out(imagenet_from, monkeypatch):
    # A host that accepts the connection and never answers must not hang us.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    monkeypatch.setattr(vgg, "DOWNLOAD_TIMEOUT_S", 1)
    imagenet_from(f"http://127.0.0.1:{server.getsockname()[1]}", "0" * 32)
    start = time.monotonic()
    with pytest.raises(ValueError, match="Could not get the ImageNet weights"):
        zoo.vgg16(weights="imagenet", include_top=False, **SMALL)
    assert time.monotonic() - start < 10
    server.close()


@pytest.mark.slow
def test_full_model_with_keras_applications_top_file(tmp_path):
    """The 224x224 model with the 1000-class head, from an official-layout file."""
    reference = keras.applications.VGG16(weights=None)
    assert reference.count_params() == zoo.vgg16().count_params() == 138_357_544
    path = save_keras_applications_h5(reference, str(tmp_path / "vgg16_top.h5"))
    model = zoo.vgg16(weights=path)
    x = pixels((1, 224, 224, 3)).astype("float32")
    expected = np.asarray(reference(keras.applications.vgg16.preprocess_input(x.copy())))
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-4, atol=1e-6)
    headless = zoo.vgg16(weights=path, include_top=False, **SMALL)  # base only from a top file
    np.testing.assert_array_equal(
        np.asarray(headless.get_layer("block5_conv3").kernel), np.asarray(reference.get_layer("block5_conv3").kernel)
    )


@pytest.mark.parametrize("shape", [(31, 31, 3), (32, 16, 3)])
def test_minimum_input_is_32(shape):
    with pytest.raises(ValueError, match=re.escape(f"at least 32. Received: input_shape={shape}")):
        zoo.vgg16(include_top=False, input_shape=shape)
    assert zoo.vgg16(include_top=False, input_shape=(32, 32, 3)).output_shape == (None, 1, 1, 512)
