"""ResNet-9 for 32x32 colour images, after the DAWNBench CIFAR-10 winners.

David Page's (Myrtle.ai) residual network: a prep layer, then three layers
that each convolve and halve the map with a max pool, the first and the last
followed by a residual block of two convolutions, `x + res2(res1(x))`; a
global max pool and a linear classifier whose logits are scaled down (1/8).
Nine weight layers in all. Here the prep layer is the zoo's 2x2 stem, which
the training recipe turns into a fixed patch-whitening filter bank as for
`cifar10_net` (`zoo.cifar.init_whitening`); the widths are arguments, at a
quarter of Myrtle's 128-256-512 by default, so the recipe trains in a few
minutes on two CPU cores. Pools come right after each layer's convolution,
before batch normalisation (without scale) and ReLU, which does the rest of
the layer on a quarter of the pixels. At inference the model averages its
logits over each image and its mirror image (part of the saved model).

Reference:
    D. Page, "How to train your ResNet", Myrtle.ai, 2018.
    https://myrtle.ai/learn/how-to-train-your-resnet/
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras

from zoo import _common
from zoo.features import build_feature_model, stage_rule, wants_features
from zoo.layers import checked_views
from zoo.models.cifar import input_views, scaled_head
from zoo.registry import register_model

DEFAULT_INPUT_SHAPE = (32, 32, 3)
# The layers after the prep layer, in order; True for those followed by a
# residual block. Myrtle's widths are 128, 256, 512 (after a 64-filter prep).
LAYERS = {"resnet9": (True, False, True)}


@stage_rule("resnet9")
def _stage_ends(names):
    # The prep layer's activation, then each layer's end: its residual sum, else its activation.
    if "prep_relu" not in names:
        return None
    layers = sorted({int(m.group(1)) for m in (re.fullmatch(r"layer(\d+)_relu", n) for n in names) if m})
    return ["prep_relu"] + [f"layer{i}_add" if f"layer{i}_add" in names else f"layer{i}_relu" for i in layers]


def _conv_bn_relu(x, filters, *, name, pool=False):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    if pool:
        x = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = keras.layers.BatchNormalization(scale=False, momentum=_common.BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _build(arch, *, input_shape, classes, include_top, pooling, weights, classifier_activation, stem_filters,
           stem_kernel_size, filters, logit_scale, include_preprocessing, test_time_augmentation, input_tensor,
           name, factory):
    residual = LAYERS[arch]
    _common.check_positive_int("stem_filters", stem_filters)
    _common.check_positive_int("stem_kernel_size", stem_kernel_size)
    filters = _common.check_int_sequence("filters", filters)
    if len(filters) != len(residual):
        raise ValueError(
            f"`filters` must give the width of each of the {len(residual)} layers. Received: filters={filters!r}"
        )
    if isinstance(logit_scale, bool) or not isinstance(logit_scale, (int, float)) or logit_scale <= 0:
        raise ValueError(f"`logit_scale` must be a positive number. Received: logit_scale={logit_scale!r}")
    views = checked_views(test_time_augmentation, include_top=include_top)
    _common.check_head(
        include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    weights = _common.check_weights_path(weights, named=_common.pretrained_tags(factory))
    input_shape = _common.check_input_shape(
        _common.input_shape_of(input_tensor, input_shape),
        default=DEFAULT_INPUT_SHAPE,
        min_size=2 ** len(filters) + stem_kernel_size - 1,
        require_static=False,
    )

    inputs = _common.image_input(input_shape, input_tensor)
    x = input_views(inputs, include_preprocessing=include_preprocessing, views=views)
    # The prep layer; "stem_conv" is the layer the recipe whitens.
    x = keras.layers.Conv2D(stem_filters, stem_kernel_size, padding="valid", name="stem_conv")(x)
    x = keras.layers.Activation("relu", name="prep_relu")(x)
    for i, (width, has_residual) in enumerate(zip(filters, residual), start=1):
        x = _conv_bn_relu(x, width, name=f"layer{i}", pool=True)
        if has_residual:
            shortcut = x
            for j in (1, 2):
                x = _conv_bn_relu(x, width, name=f"layer{i}_res{j}")
            x = keras.layers.Add(name=f"layer{i}_add")([shortcut, x])

    if include_top:
        x = scaled_head(x, classes=classes, dropout=0.0, views=views, logit_scale=logit_scale,
                        classifier_activation=classifier_activation)
    else:
        x = _common.global_pool(x, pooling)
    return _common.finish_model(inputs, x, name=name, weights=weights, factory=factory, input_tensor=input_tensor)


@register_model
def resnet9(
    *,
    input_shape: tuple | None = None,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | None = None,
    classifier_activation: str | None = "softmax",
    stem_filters: int = 24,
    stem_kernel_size: int = 2,
    filters: Sequence[int] = (32, 64, 128),
    logit_scale: float = 0.125,
    include_preprocessing: bool = True,
    test_time_augmentation: str | None = "flip",
    input_tensor=None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    name: str = "resnet9",
) -> keras.Model:
    """Builds ResNet-9, the DAWNBench CIFAR-10 residual network.

    The prep layer (`stem_conv`, "valid" padding, with a bias, then
    `prep_relu`), then three layers (`layer1` to `layer3`): each a 3x3
    convolution, a 2x2 max pool, batch normalisation and ReLU; `layer1` and
    `layer3` are followed by a residual block of two such convolutions
    without the pool, added to its input (`layer1_add`, `layer3_add`). The
    head is a global max pool, a dense layer (`logits`), a weightless
    scaling (`logit_scale`) and the classifier activation (`predictions`).
    The training recipe sets the stem to a fixed patch-whitening filter bank
    computed from the training images (`zoo.cifar.init_whitening`); built
    here it is an ordinary trainable convolution.

    Reference:
        D. Page, "How to train your ResNet", Myrtle.ai, 2018.

    Args:
        input_shape: `(height, width, channels)`, at least 9x9. Defaults to
            `(32, 32, 3)`.
        classes: Number of classes. Defaults to 10.
        include_top: Whether to include the pooling-classifier head. Defaults
            to True.
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        weights: None, or the path to a weights file saved from the same
            configuration. Defaults to None.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        stem_filters: Filters of the prep layer; for whitening, an even
            number at most `2 * stem_kernel_size**2 * channels`. Defaults to
            24.
        stem_kernel_size: Size of the prep layer's square kernel. Defaults
            to 2.
        filters: Widths of the three layers (and their residual blocks);
            Myrtle's are `(128, 256, 512)`. Defaults to `(32, 64, 128)`.
        logit_scale: Factor on the logits before the classifier activation
            (Myrtle's 0.125): small logits keep the loss informative for
            longer at a high learning rate. Defaults to 0.125.
        include_preprocessing: Whether the model normalises raw [0, 255]
            pixels with the CIFAR-10 channel means and deviations itself
            (grey inputs use their averages). Defaults to True.
        test_time_augmentation: What the model averages its logits over at
            inference (part of the saved model; training sees single
            images): `"flip"` (each image and its left-right mirror),
            `"flip_translate"` (also both shifted by one pixel diagonally,
            weighted half) or None. Defaults to `"flip"`.
        input_tensor: A Keras tensor to use as the model's input. Defaults
            to None.
        features_only: Whether to return the feature map of each stage (the
            prep layer's, then the end of each layer: its residual sum or its
            activation) instead of the classifier, without test-time views;
            `include_top` and `pooling` are ignored. Defaults to False.
        out_indices: With `features_only`, which stages to return. None for
            all. Defaults to None.
        name: Model name. Defaults to `"resnet9"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument.

    Examples:

        >>> from zoo import resnet9
        >>> model = resnet9()
        >>> model.output_shape
        (None, 10)
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(resnet9, locals())
    arguments = {k: v for k, v in locals().items() if k not in ("features_only", "out_indices")}
    return _build("resnet9", **arguments, factory=resnet9)
