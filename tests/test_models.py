"""Every registered model: shapes, parameters, saving, preprocessing, bad input."""

import inspect
import re

import keras
import numpy as np
import pytest
from conftest import pixels, small_kwargs

import zoo

MODELS = zoo.list_models()
each_model = pytest.mark.parametrize("name", MODELS)

# Default configurations, counted by hand.
EXPECTED_PARAMS = {
    # conv 320 + 18,496 + 36,928; fc1 576*64+64 = 36,928; predictions 650.
    "mnist_convnet": 93_322,
    # 2x2 stem (whitening) 2*2*3*24+24 = 312; convs (no bias) 6,912 + 9,216
    # + 18,432 + 36,864 + 73,728 + 147,456; batch norm without scale, 3 per
    # channel: 3 * (2*32 + 2*64 + 2*128); logits 128*10+10.
    "cifar10_net": 312 + 292_608 + 1_344 + 1_290,
    # bank 3*3*1*2 = 18 (frozen); bank_bn 4*2; conv 1,216 + 36,928;
    # fc1 (4*4*64)*64+64 = 65,600; predictions 650.
    "edge_convnet": 18 + 8 + 1_216 + 36_928 + 65_600 + 650,
    # bank 49*49*1*48 = 115,248 (frozen); bank_bn 4*48; conv 27,712 + 36,928; fc1; predictions.
    "lm_convnet": 115_248 + 192 + 27_712 + 36_928 + 65_600 + 650,
    # keras.applications.VGG16 / VGG19 with the top.
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    # keras.applications.ResNet50 / MobileNetV2 (alpha 1.0) with the top.
    "resnet50": 25_636_712,
    "mobilenet_v2": 3_538_984,
    # 2x2 stem (whitening) 2*2*3*24+24 = 312; convs (no bias) 6,912 + 2 * 9,216
    # (layer1 and its residual block) + 18,432 + 73,728 + 2 * 147,456 (layer3
    # and its residual block); batch norm without scale, 3 per channel:
    # 3 * (3*32 + 64 + 3*128); logits 128*10+10.
    "resnet9": 312 + 412_416 + 1_632 + 1_290,
}


def test_every_model_has_an_expected_count():
    assert sorted(EXPECTED_PARAMS) == MODELS


@each_model
def test_parameter_count(name):
    assert zoo.model_info(name)["params"] == EXPECTED_PARAMS[name]


@each_model
def test_outputs(name):
    model = zoo.create_model(name, **small_kwargs(name))
    assert isinstance(model, keras.Model) and model.name == name
    assert not model.compiled
    shape = model.input_shape[1:]
    out = np.asarray(model(pixels((2, *shape))))
    assert out.shape == (2, model.output_shape[-1])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@each_model
def test_uint8_and_float_pixels_agree(name):
    model = zoo.create_model(name, **small_kwargs(name))
    x = pixels((2, *model.input_shape[1:]))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(x.astype("float32"))))


@each_model
def test_logits_and_classes(name):
    model = zoo.create_model(name, **{**small_kwargs(name), "classes": 3, "classifier_activation": None})
    out = np.asarray(model(pixels((4, *model.input_shape[1:]))))
    assert out.shape == (4, 3)
    assert not np.allclose(out.sum(axis=1), 1.0)


@each_model
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_headless(name, pooling):
    kwargs = {**small_kwargs(name), "include_top": False, "pooling": pooling}
    model = zoo.create_model(name, **kwargs)
    out = model(pixels((2, *model.input_shape[1:])))
    assert len(out.shape) == (4 if pooling is None else 2)
    assert "predictions" not in [layer.name for layer in model.layers]


def _preprocess(name, x):
    """Each family's documented preprocessing, written out independently."""
    x = x.astype("float32")
    if name.startswith("vgg") or name == "resnet50":
        return keras.applications.vgg16.preprocess_input(x)
    if name == "mobilenet_v2":
        return x / 127.5 - 1.0
    if name in ("cifar10_net", "resnet9"):
        return (x - np.array([125.31, 122.95, 113.87])) / np.array([62.99, 62.09, 66.70])
    return x / 255.0


@each_model
def test_preprocessing_is_in_the_model(name):
    kwargs = small_kwargs(name)
    with_pp = zoo.create_model(name, **kwargs)
    without = zoo.create_model(name, include_preprocessing=False, **kwargs)
    assert with_pp.count_params() == without.count_params()
    without.set_weights(with_pp.get_weights())
    x = pixels((2, *with_pp.input_shape[1:]))
    np.testing.assert_allclose(
        np.asarray(with_pp(x)), np.asarray(without(_preprocess(name, x))), rtol=1e-4, atol=1e-6
    )


@each_model
def test_keras_file_round_trip(name, tmp_path):
    model = zoo.create_model(name, **small_kwargs(name))
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = pixels((2, *model.input_shape[1:]))
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]


@each_model
def test_config_round_trip(name):
    model = zoo.create_model(name, **small_kwargs(name))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    x = pixels((2, *model.input_shape[1:]))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(clone(x)))


@each_model
def test_weights_file(name, tmp_path):
    kwargs = small_kwargs(name)
    model = zoo.create_model(name, **kwargs)
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    loaded = zoo.create_model(name, weights=path, **kwargs)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


# Models whose classifier pools globally: any input size fits their head.
GLOBALLY_POOLED = ("cifar10_net", "resnet50", "mobilenet_v2", "resnet9")
BAD_ARGUMENTS = [
    ({"classes": 0}, "classes=0"),
    ({"classes": "10"}, "classes='10'"),
    ({"classes": True}, "classes=True"),
    ({"include_top": False, "pooling": "mean"}, "pooling='mean'"),
    ({"include_top": "yes"}, "include_top='yes'"),
    ({"input_shape": (28, 28)}, "input_shape=(28, 28)"),
    ({"input_shape": (0, 28, 1)}, "input_shape=(0, 28, 1)"),
    ({"input_shape": (64, 64, 0)}, "input_shape=(64, 64, 0)"),
    ({"input_shape": "28x28"}, "input_shape='28x28'"),
    ({"input_shape": (None, None, 1)}, "input_shape=(None, None, 1)"),  # a Flatten head needs a size
    ({"classifier_activation": "nope"}, "classifier_activation='nope'"),
    ({"weights": "missing/weights.h5"}, "weights='missing/weights.h5'"),
    ({"weights": 3}, "weights=3"),
]


@each_model
@pytest.mark.parametrize("kwargs,received", BAD_ARGUMENTS, ids=[r for _, r in BAD_ARGUMENTS])
def test_bad_arguments(name, kwargs, received):
    if name in GLOBALLY_POOLED and "None, None" in received:
        pytest.skip(f"{name} pools globally, so it takes any input size")
    with pytest.raises(ValueError, match=re.escape(f"Received: {received}")):
        zoo.create_model(name, **kwargs)


@pytest.mark.parametrize("name", sorted(set(MODELS) - set(zoo.list_models(pretrained=True))))
def test_no_named_weights(name):
    with pytest.raises(ValueError, match="Received: weights='imagenet'"):
        zoo.create_model(name, weights="imagenet")


def _documented_args(fn):
    doc = inspect.getdoc(fn)
    section = doc.split("Args:\n", 1)[1].split("\n\n")[0] if "Args:\n" in doc else ""
    entries, current = {}, None
    for line in section.splitlines():
        match = re.match(r"    (\w+): (.*)", line)
        if match:
            current = match.group(1)
            entries[current] = match.group(2)
        elif current:
            entries[current] += " " + line.strip()
    return entries


@each_model
def test_documented_defaults_match_the_signature(name):
    factory = zoo.registry.get_model_factory(name)
    documented = _documented_args(factory)
    if name == "vgg19":  # documents only what differs from vgg16
        documented = {**_documented_args(zoo.vgg16), **documented}
    for param in inspect.signature(factory).parameters.values():
        assert param.kind is param.KEYWORD_ONLY, param.name
        assert param.name in documented, f"{name}: `{param.name}` is not documented"
        text = documented[param.name]
        if param.name == "input_shape":
            expected = str(zoo.model_info(name)["input_shape"])
        elif param.name == "name":
            expected = f'"{name}"'
        else:
            expected = repr(param.default).replace("'", '"')
        assert f"Defaults to {expected}" in text.replace("`", ""), (name, param.name, text)


# Model-specific arguments.


def test_mnist_convnet_variants():
    bn = zoo.mnist_convnet(batch_norm=True)
    # Biases of the 3 convolutions (160) go; 4 values per channel of BN (640) come.
    assert bn.count_params() == 93_322 - 160 + 640
    deep = zoo.mnist_convnet(filters=(32, 64, 64, 128), padding="same", dropout=0.5, dense_units=0)
    assert deep.get_layer("flatten").output.shape[-1] == 3 * 3 * 128
    assert "fc1" not in [l.name for l in deep.layers]
    assert deep(pixels((1, 28, 28, 1))).shape == (1, 10)


def test_mnist_convnet_averages_its_logits_over_the_translate_views():
    plain = zoo.mnist_convnet(classifier_activation=None)
    views = zoo.mnist_convnet(test_time_augmentation="translate")
    assert views.count_params() == 93_322
    views.get_layer("logits").set_weights(plain.get_layer("predictions").get_weights())
    for layer in ("conv1", "conv2", "conv3", "fc1"):
        views.get_layer(layer).set_weights(plain.get_layer(layer).get_weights())
    x = pixels((2, 28, 28, 1)).astype("float32")
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    shifted = [x, padded[:, :-2, :-2], padded[:, 2:, 2:]]  # the image, moved down-right and up-left
    logits = sum(w * np.asarray(plain(v)) for w, v in zip((0.5, 0.25, 0.25), shifted))
    np.testing.assert_allclose(np.asarray(views(x)), np.asarray(keras.ops.softmax(logits)), rtol=1e-5, atol=1e-6)
    # Training sees each image once.
    assert tuple(views(x, training=True).shape) == (2, 10)
    headless = zoo.mnist_convnet(test_time_augmentation="translate", include_top=False)
    assert "test_time_views" not in [layer.name for layer in headless.layers]


@pytest.mark.parametrize(
    "kwargs,received",
    [
        ({"test_time_augmentation": "mirror"}, "test_time_augmentation='mirror'"),
        ({"filters": ()}, "filters=()"),
        ({"filters": (32, -1)}, "filters=(32, -1)"),
        ({"dense_units": -1}, "dense_units=-1"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"padding": "full"}, "padding='full'"),
        ({"batch_norm": "yes"}, "batch_norm='yes'"),
        ({"filters": (32, 64, 64, 64)}, "input_shape=(28, 28, 1)"),  # too deep for 28x28, valid
    ],
)
def test_mnist_convnet_bad_arguments(kwargs, received):
    with pytest.raises(ValueError, match=re.escape(f"Received: {received}")):
        zoo.mnist_convnet(**kwargs)


def test_cifar10_net_variants():
    grey = zoo.cifar10_net(input_shape=(32, 32, 1), filters=(16, 32), convs_per_stage=1)
    assert grey(pixels((2, 32, 32, 1))).shape == (2, 10)
    any_size = zoo.cifar10_net(input_shape=(None, None, 3), l2=5e-4, dropout=0.2)
    assert any_size(pixels((1, 48, 40, 3))).shape == (1, 10)
    assert len(any_size.losses) == 7  # one L2 penalty per convolution


@pytest.mark.parametrize(
    "kwargs,received",
    [
        ({"stem_filters": 0}, "stem_filters=0"),
        ({"convs_per_stage": 0}, "convs_per_stage=0"),
        ({"activation": "nope"}, "activation='nope'"),
        ({"l2": -1.0}, "l2=-1.0"),
        ({"logit_scale": 0}, "logit_scale=0"),
        ({"input_shape": (4, 4, 3)}, "input_shape=(4, 4, 3)"),
    ],
)
def test_cifar10_net_bad_arguments(kwargs, received):
    with pytest.raises(ValueError, match=re.escape(f"Received: {received}")):
        zoo.cifar10_net(**kwargs)


def test_filter_convnets_use_frozen_banks():
    edge = zoo.edge_convnet(operator="prewitt")
    assert edge.get_layer("edge_filters").operator == "prewitt"
    lm = zoo.lm_convnet(support=25, scales=[1.0, 2.0], blob_scales=[1.0])
    lm_bank = lm.get_layer("lm_filters")
    assert tuple(lm_bank.kernel.shape) == (25, 25, 1, 2 * 2 * 6 + 3)
    for model, bank in [(edge, edge.get_layer("edge_filters")), (lm, lm_bank)]:
        trainable = {id(w) for w in model.trainable_weights}
        assert id(bank.kernel) not in trainable
