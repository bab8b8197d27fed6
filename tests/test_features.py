"""Feature extraction: `features_only`, `out_indices`, `feature_info`, `feature_extractor`."""

import re

import keras
import numpy as np
import pytest
from conftest import pixels

import zoo
from zoo.features import feature_info, stage_ends

MODELS = zoo.list_models()


def _default_shape(name):
    return zoo.model_info(name)["input_shape"]


@pytest.mark.parametrize("name", MODELS)
def test_features_follow_feature_info(name):
    info = zoo.model_info(name)["feature_info"]
    shape = _default_shape(name)
    features = zoo.create_model(name, features_only=True, input_shape=shape)
    assert len(features.outputs) == len(info) >= 3
    assert [f["index"] for f in info] == list(range(len(info)))
    reductions = [f["reduction"] for f in info]
    assert reductions == sorted(reductions) and reductions[0] >= 1
    for record, out_shape in zip(info, features.output_shape):
        assert out_shape[-1] == record["channels"] > 0
        # timm's check: the map is at most the input over the stride, rounded up.
        assert out_shape[1] <= -(-shape[0] // record["reduction"])
    # The same layers as the classifier's, so a layer name finds each map.
    classifier = zoo.create_model(name)
    assert [f["layer"] for f in info] == stage_ends(classifier)
    for record in info:
        assert classifier.get_layer(record["layer"]).output.shape[-1] == record["channels"]


@pytest.mark.parametrize("name", MODELS)
def test_features_of_a_classifier_equal_the_feature_model(name):
    """feature_extractor(classifier) and features_only give the same maps from the same weights."""
    shape = _default_shape(name) if not name.startswith("vgg") else (32, 32, 3)
    kwargs = {} if not name.startswith("vgg") else {"include_top": False, "input_shape": shape}
    classifier = zoo.create_model(name, **kwargs)
    tapped = zoo.feature_extractor(classifier)
    direct = zoo.create_model(name, features_only=True, input_shape=shape)
    for layer in direct.layers:
        if layer.weights:
            layer.set_weights(classifier.get_layer(layer.name).get_weights())
    x = pixels((2, *shape)).astype("float32")
    for a, b in zip(tapped(x), direct(x)):
        assert a.shape[0] == 2  # one map per image: no test-time views
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_out_indices_pick_stages(name):
    shape = _default_shape(name)
    every = zoo.create_model(name, features_only=True, input_shape=shape)
    picked = zoo.create_model(name, features_only=True, input_shape=shape, out_indices=(-1, 0))
    assert picked.output_shape == [every.output_shape[0], every.output_shape[-1]]


@pytest.mark.parametrize("out_indices", [(7,), (0, 0), "01", (), (1.0,), (True,), np.zeros((1, 1), int)])
def test_bad_out_indices_are_refused(out_indices):
    with pytest.raises(ValueError, match=re.escape("Received: out_indices=")):
        zoo.mnist_convnet(features_only=True, out_indices=out_indices)


@pytest.mark.parametrize("out_indices", [tuple(np.arange(2)), np.arange(2), [np.int32(0), np.int64(-2)]])
def test_numpy_integer_out_indices_are_taken(out_indices):
    """Any integral index works, as in timm: NumPy's too."""
    features = zoo.mnist_convnet(features_only=True, out_indices=out_indices)
    assert [s[-1] for s in features.output_shape] == [32, 64]


@pytest.mark.parametrize("name", MODELS)
def test_feature_arguments_are_checked_by_every_factory(name):
    with pytest.raises(ValueError, match=re.escape("Received: out_indices=(0,)")) as info:
        zoo.create_model(name, out_indices=(0,))  # would be ignored by a classifier
    assert "features_only=True" in str(info.value)
    with pytest.raises(ValueError, match=re.escape("Received: features_only='yes'")):
        zoo.create_model(name, features_only="yes")


@pytest.mark.parametrize("name", MODELS)
def test_reduction_is_the_cumulative_stride_at_any_input_size(name):
    """As timm's feature_info.reduction(): integer strides, also when the input size is unknown."""
    reductions = [f["reduction"] for f in zoo.model_info(name)["feature_info"]]
    assert all(type(r) is int and r & (r - 1) == 0 for r in reductions)  # powers of two in the zoo
    channels = _default_shape(name)[-1]
    model = zoo.create_model(name, include_top=False, input_shape=(None, None, channels))
    assert [f["reduction"] for f in feature_info(model)] == reductions


def test_reductions_of_valid_convolutions_and_residual_stages():
    assert [f["reduction"] for f in zoo.model_info("mnist_convnet")["feature_info"]] == [1, 2, 4]
    assert [f["reduction"] for f in zoo.model_info("resnet50")["feature_info"]] == [2, 4, 8, 16, 32]


def test_features_take_any_input_size_the_stages_allow():
    features = zoo.vgg16(features_only=True, input_shape=(96, 128, 3))
    assert [s[1:3] for s in features.output_shape] == [(96, 128), (48, 64), (24, 32), (12, 16), (6, 8)]
    features = zoo.mnist_convnet(features_only=True, input_shape=(None, None, 1))
    assert [tuple(o.shape) for o in features(np.zeros((1, 40, 40, 1)))][-1] == (1, 6, 6, 64)


def test_feature_extractor_of_a_loaded_fine_tuned_model(tmp_path):
    """A `.keras` file of a trained cifar10_net (whitened stem, test-time views) gives its features."""
    model = zoo.cifar10_net(classes=4)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = pixels((8, 32, 32, 3)).astype("float32")
    model.fit(x, np.arange(8) % 4, epochs=1, verbose=0)
    path = str(tmp_path / "tuned.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    ours, theirs = zoo.feature_extractor(loaded), zoo.feature_extractor(model)
    for a, b in zip(ours(x), theirs(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    # Layers are shared: the feature model sees further training.
    assert ours.get_layer("stage1_block1_conv") is loaded.get_layer("stage1_block1_conv")


def test_feature_extractor_taps_named_layers():
    model = zoo.mnist_convnet()
    features = zoo.feature_extractor(model, layers=["pool1", "conv3"])
    assert features.output_shape == [(None, 13, 13, 32), (None, 3, 3, 64)]
    with pytest.raises(ValueError, match=re.escape("no layer 'conv9'")):
        zoo.feature_extractor(model, layers=["conv9"])
    with pytest.raises(ValueError, match="not a feature map"):
        zoo.feature_extractor(model, layers=["fc1"])


def test_feature_extractor_refuses_other_models():
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Found no zoo stages"):
        zoo.feature_extractor(other)
    with pytest.raises(ValueError, match=re.escape("Received: model=")):
        zoo.feature_extractor("mnist_convnet")


def test_feature_model_loads_a_classifier_weights_file(tmp_path):
    """A weights file saved from the classifier loads into its feature model."""
    classifier = zoo.mnist_convnet()
    path = str(tmp_path / "classifier.weights.h5")
    classifier.save_weights(path)
    features = zoo.mnist_convnet(features_only=True, weights=path)
    x = pixels((2, 28, 28, 1)).astype("float32")
    for a, b in zip(features(x), zoo.feature_extractor(classifier)(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def test_imagenet_features_fail_with_the_headless_file_alone(monkeypatch, tmp_path):
    """Offline, features_only with "imagenet" reports its `_notop` file and never
    tries the file with the head (528 MB for VGG-16) instead."""
    from zoo.models import _imagenet, vgg

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    # Port 9 (discard) on localhost refuses the connection, as an offline host would.
    monkeypatch.setattr(vgg, "_WEIGHTS_URL", "http://127.0.0.1:9/{arch}/{file}")
    asked = []
    download = _imagenet.download
    monkeypatch.setattr(_imagenet, "download", lambda fname, *a, **k: asked.append(fname) or download(fname, *a, **k))
    with pytest.raises(ValueError) as info:
        zoo.vgg16(weights="imagenet", features_only=True, input_shape=(64, 64, 3))
    notop = vgg.IMAGENET_WEIGHTS[("vgg16", False)][0]
    assert asked == [notop]
    message = str(info.value)
    assert f"weights='/path/to/{notop}'" in message and message.endswith("Received: weights='imagenet'")
