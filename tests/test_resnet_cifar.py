"""ResNet-9: Myrtle's layout, the residual blocks, its stages and its own arguments."""

import re

import keras
import numpy as np
import pytest
from conftest import pixels

import zoo
from zoo import training
from zoo.features import _STAGE_RULES, stage_ends
from zoo.models.cifar import init_whitening


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_nine_weight_layers_in_myrtles_order():
    model = zoo.resnet9()
    weighted = [layer.name for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert weighted == [
        "stem_conv", "layer1_conv", "layer1_res1_conv", "layer1_res2_conv", "layer2_conv",
        "layer3_conv", "layer3_res1_conv", "layer3_res2_conv", "logits",
    ]
    assert [c.filters for c in _convs(model)] == [24, 32, 32, 32, 64, 128, 128, 128]
    assert [c.use_bias for c in _convs(model)] == [True] + [False] * 7
    assert model.get_layer("logit_scale").scale == 0.125
    assert isinstance(model.get_layer("max_pool"), keras.layers.GlobalMaxPooling2D)


def test_myrtle_widths_give_myrtles_convolution_weights():
    # Myrtle's ResNet-9: a 3x3 prep layer of 64, then 128, 256, 512:
    # 1,728 + 73,728 + 2 * 147,456 + 294,912 + 1,179,648 + 2 * 2,359,296.
    model = zoo.resnet9(stem_filters=64, stem_kernel_size=3, filters=(128, 256, 512))
    assert sum(int(np.prod(c.kernel.shape)) for c in _convs(model)) == 6_563_520
    assert model.get_layer("layer3_add").output.shape[1:] == (3, 3, 512)


def test_residual_blocks_add_their_input_at_its_shape():
    model = zoo.resnet9(test_time_augmentation=None)
    for i, shape in [(1, (15, 15, 32)), (3, (3, 3, 128))]:
        add = model.get_layer(f"layer{i}_add")
        assert [tuple(t.shape[1:]) for t in add.input] == [shape, shape]
        assert tuple(add.output.shape[1:]) == shape
    assert "layer2_add" not in [layer.name for layer in model.layers]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("layer1_relu", "layer1_res2_relu", "layer1_add")])
    shortcut, residual, total = (np.asarray(t) for t in probe(pixels((2, 32, 32, 3)).astype("float32")))
    np.testing.assert_allclose(total, shortcut + residual, rtol=1e-6, atol=1e-6)


def test_features_only_gives_the_prep_layer_and_each_layers_end():
    features = zoo.resnet9(features_only=True)
    assert [tuple(s[1:]) for s in features.output_shape] == [(31, 31, 24), (15, 15, 32), (7, 7, 64), (3, 3, 128)]
    assert stage_ends(zoo.resnet9()) == ["prep_relu", "layer1_add", "layer2_relu", "layer3_add"]
    wide = zoo.resnet9(features_only=True, out_indices=(-1,), filters=(16, 16, 16), input_shape=(None, None, 3))
    assert tuple(wide(np.zeros((1, 65, 65, 3), "float32")).shape) == (1, 8, 8, 16)


def test_stage_rules_do_not_claim_each_others_models():
    names = {n: [layer.name for layer in zoo.create_model(n, include_top=False, input_shape=(32, 32, 3)).layers]
             for n in ("resnet9", "cifar10_net", "vgg16")}
    names["mnist_convnet"] = [layer.name for layer in zoo.mnist_convnet().layers]
    for family, rule in _STAGE_RULES.items():
        if family != "resnet9":
            assert not rule(names["resnet9"]), family
    for model in ("cifar10_net", "vgg16", "mnist_convnet"):
        assert _STAGE_RULES["resnet9"](names[model]) is None, model


def test_the_recipe_whitens_the_prep_layer():
    recipe = training.RECIPES["resnet9"]
    assert recipe.whitening and recipe.dataset == "cifar10"
    model = zoo.resnet9()
    init_whitening(model, pixels((64, 32, 32, 3)))
    kernel, bias = model.get_layer("stem_conv").get_weights()
    bank = kernel.reshape(12, 24)
    np.testing.assert_allclose(bank[:, 12:], -bank[:, :12])  # eigenvectors and their negatives
    assert not bias.any()


def test_other_inputs():
    grey = zoo.resnet9(input_shape=(32, 32, 1), filters=(8, 16, 32), stem_filters=8)
    assert grey(pixels((2, 32, 32, 1))).shape == (2, 10)
    any_size = zoo.resnet9(input_shape=(None, None, 3), test_time_augmentation="flip_translate")
    assert any_size(pixels((1, 48, 40, 3))).shape == (1, 10)


@pytest.mark.parametrize(
    "kwargs,received",
    [
        ({"filters": (32, 64)}, "filters=(32, 64)"),
        ({"filters": (32, 0, 128)}, "filters=(32, 0, 128)"),
        ({"stem_filters": 0}, "stem_filters=0"),
        ({"stem_kernel_size": 1.5}, "stem_kernel_size=1.5"),
        ({"logit_scale": 0}, "logit_scale=0"),
        ({"logit_scale": True}, "logit_scale=True"),
        ({"test_time_augmentation": "rotate"}, "test_time_augmentation='rotate'"),
        ({"input_shape": (8, 8, 3)}, "input_shape=(8, 8, 3)"),
    ],
)
def test_bad_arguments(kwargs, received):
    with pytest.raises(ValueError, match=re.escape(f"Received: {received}")):
        zoo.resnet9(**kwargs)
