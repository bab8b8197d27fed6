"""A pyramid convnet for 32x32 colour images, built to train fast on a CPU.

Few filters on the large early maps and more on the small late ones, so every
stage costs about the same. The shape follows airbench (Keller Jordan, 2024):
a small stem, stages of convolutions that pool right after their first
convolution, batch normalisation without scale, and a global max pool before
the classifier, whose logits are scaled down (airbench's 1/9) to keep the loss
informative at a high learning rate. ReLU by default, cheaper on a CPU than
airbench's GELU (`activation="gelu"` gives it back).

Reference:
    K. Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU", 2024.
    https://arxiv.org/abs/2404.00498
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from zoo import _common
from zoo.registry import register_model

DEFAULT_INPUT_SHAPE = (32, 32, 3)
# Per-channel statistics of the CIFAR-10 training set, in [0, 255].
CIFAR10_MEAN = (125.31, 122.95, 113.87)
CIFAR10_STD = (62.99, 62.09, 66.70)


def _conv_bn_act(x, filters, *, activation, l2, name, pool=False):
    regularizer = keras.regularizers.L2(l2) if l2 else None
    x = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_regularizer=regularizer,
        name=f"{name}_conv",
    )(x)
    if pool:
        # Pooling before normalisation does the rest of the block on 1/4 the pixels.
        x = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = keras.layers.BatchNormalization(scale=False, momentum=_common.BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.Activation(activation, name=f"{name}_act")(x)


@register_model
def cifar10_net(
    *,
    input_shape: tuple | None = None,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | None = None,
    classifier_activation: str | None = "softmax",
    stem_filters: int = 16,
    filters: Sequence[int] = (32, 64, 128),
    convs_per_stage: int = 2,
    activation: str = "relu",
    dropout: float = 0.0,
    l2: float = 0.0,
    logit_scale: float = 0.125,
    include_preprocessing: bool = True,
    name: str = "cifar10_net",
) -> keras.Model:
    """Builds the CIFAR-10 pyramid convnet.

    A 3x3 stem convolution, then one stage per entry of `filters`: each
    stage's first convolution is followed by a 2x2 max pool, the rest keep
    the size. Every convolution is followed by batch normalisation and the
    activation. The head is a global max pool, dropout, a dense layer
    (`logits`), a weightless scaling (`logit_scale`) and the classifier
    activation (`predictions`).

    Args:
        input_shape: `(height, width, channels)`, at least 8x8. Defaults to
            `(32, 32, 3)`.
        classes: Number of classes. Defaults to 10.
        include_top: Whether to include the pooling-classifier head. Defaults
            to True.
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        weights: None or the path to a weights file saved from the same
            configuration. Defaults to None.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        stem_filters: Filters of the stem convolution. Defaults to 16.
        filters: Filters of each stage; its length is the number of stages.
            Defaults to `(32, 64, 128)`.
        convs_per_stage: Convolutions per stage. Defaults to 2.
        activation: Activation after each normalisation. Defaults to `"relu"`.
        dropout: Dropout rate before the classifier. Defaults to 0.0.
        l2: L2 penalty on the convolution kernels. Defaults to 0.0.
        logit_scale: Factor on the logits before the classifier activation,
            as airbench's 1/9: small logits keep the loss informative for
            longer at a high learning rate. Defaults to 0.125.
        include_preprocessing: Whether the model normalises raw [0, 255]
            pixels with the CIFAR-10 channel means and deviations itself
            (grey inputs use their averages). Defaults to True.
        name: Model name. Defaults to `"cifar10_net"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument.

    Example:

    >>> from zoo import cifar10_net
    >>> model = cifar10_net()
    >>> model.output_shape
    (None, 10)
    """
    _common.check_positive_int("stem_filters", stem_filters)
    filters = _common.check_int_sequence("filters", filters)
    _common.check_positive_int("convs_per_stage", convs_per_stage)
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(
            f"`activation` must be a Keras activation. Received: activation={activation!r}"
        ) from None
    dropout = _common.check_rate("dropout", dropout)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
        raise ValueError(f"`l2` must be a non-negative number. Received: l2={l2!r}")
    if isinstance(logit_scale, bool) or not isinstance(logit_scale, (int, float)) or logit_scale <= 0:
        raise ValueError(f"`logit_scale` must be a positive number. Received: logit_scale={logit_scale!r}")
    _common.check_head(
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    weights = _common.check_weights_path(weights)
    input_shape = _common.check_input_shape(
        input_shape,
        default=DEFAULT_INPUT_SHAPE,
        min_size=2 ** len(filters),
        require_static=False,
    )

    inputs = _common.image_input(input_shape)
    x = inputs
    if include_preprocessing:
        mean, variance = np.array(CIFAR10_MEAN), np.square(CIFAR10_STD)
        if input_shape[-1] != 3:
            mean, variance = mean.mean(), variance.mean()
        x = keras.layers.Normalization(
            mean=mean.tolist(), variance=variance.tolist(), name="normalization"
        )(x)
    x = _conv_bn_act(x, stem_filters, activation=activation, l2=l2, name="stem")
    for stage, width in enumerate(filters, start=1):
        for conv in range(1, convs_per_stage + 1):
            x = _conv_bn_act(
                x, width, activation=activation, l2=l2,
                name=f"stage{stage}_block{conv}", pool=conv == 1,
            )

    if include_top:
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(classes, name="logits")(x)
        x = keras.layers.Rescaling(logit_scale, name="logit_scale")(x)
        x = keras.layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = _common.global_pool(x, pooling)

    return _common.finish_model(inputs, x, name=name, weights=weights)
