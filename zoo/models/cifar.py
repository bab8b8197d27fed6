"""A pyramid convnet for 32x32 colour images, built to train fast on a CPU.

Few filters on the large early maps and more on the small late ones, so every
stage costs about the same. The shape follows airbench (Keller Jordan, 2024):
a 2x2 stem convolution that the training recipe turns into a fixed
patch-whitening filter bank (`init_whitening`), stages of convolutions that
pool right after their first convolution, batch normalisation without scale,
and a global max pool before the classifier, whose logits are scaled down
(airbench's 1/9) to keep the loss informative at a high learning rate. At
inference the model averages its logits over each image and its mirror image
(test-time augmentation, part of the saved model; `"flip_translate"` adds
their shifts by a pixel, and is what `zoo train cifar10_net` builds).
ReLU by default, cheaper on a CPU than airbench's GELU (`activation="gelu"`
gives it back).

Reference:
    K. Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU", 2024.
    https://arxiv.org/abs/2404.00498
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from zoo import _common
from zoo.features import build_feature_model, wants_features
from zoo.layers import checked_views, merge_views, stack_views
from zoo.layers import TEST_TIME_AUGMENTATIONS, TestTimeViews, ViewMean  # noqa: F401 (here before zoo.layers)
from zoo.registry import register_model

DEFAULT_INPUT_SHAPE = (32, 32, 3)
# Per-channel statistics of the CIFAR-10 training set, in [0, 255].
CIFAR10_MEAN = (125.31, 122.95, 113.87)
CIFAR10_STD = (62.99, 62.09, 66.70)


def init_whitening(model: keras.Model, images, *, layer: str = "stem_conv", epsilon: float = 5e-4):
    """Makes a convolution a patch-whitening filter bank for these images.

    After airbench: the eigenvectors of the (uncentred) covariance of the
    layer's input patches, each divided by the square root of its eigenvalue
    plus `epsilon`, and their negatives; the bias is zeroed. With `2k`
    filters the `k` leading eigenvectors are used. The recipe then freezes
    the layer.

    Args:
        model: A `cifar10_net` model (or any with this layer).
        images: Training images, `(n, h, w, c)` raw pixels.
        layer: The convolution to set. Defaults to `"stem_conv"`.
        epsilon: Added to the eigenvalues. Defaults to 5e-4.

    Raises:
        ValueError: If the layer has an odd number of filters, or more than
            twice its patch size.
    """
    conv = model.get_layer(layer)
    kh, kw, channels, filters = conv.kernel.shape
    size = kh * kw * channels
    if filters % 2 or filters > 2 * size:
        raise ValueError(
            f"A whitening layer needs an even number of filters, at most {2 * size}. Received: filters={filters}"
        )
    probe = keras.Model(model.input, conv.input)
    covariance, count = np.zeros((size, size)), 0
    for i in range(0, len(images), 512):
        # training=True: the layer's input without test-time views.
        # Through float32: PyTorch tensors in bfloat16 have no NumPy view.
        x = probe(np.asarray(images[i:i + 512], "float32"), training=True)
        x = keras.ops.convert_to_numpy(keras.ops.cast(x, "float32")).astype("float64")
        patches = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (n, h', w', c, kh, kw)
        patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size)  # kernel order: (kh, kw, c)
        covariance += patches.T @ patches
        count += len(patches)
    covariance /= count
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    order = np.argsort(eigenvalues)[::-1][: filters // 2]
    bank = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + epsilon)
    kernel = np.concatenate([bank, -bank], axis=1).reshape(kh, kw, channels, filters)
    weights = [kernel.astype("float32")] + [np.zeros(filters, "float32")] * (len(conv.weights) - 1)
    conv.set_weights(weights)


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
    stem_filters: int = 24,
    stem_kernel_size: int = 2,
    filters: Sequence[int] = (32, 64, 128),
    convs_per_stage: int = 2,
    activation: str = "relu",
    dropout: float = 0.0,
    l2: float = 0.0,
    logit_scale: float = 0.125,
    include_preprocessing: bool = True,
    test_time_augmentation: str | None = "flip",
    input_tensor=None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    name: str = "cifar10_net",
) -> keras.Model:
    """Builds the CIFAR-10 pyramid convnet.

    A stem convolution (`stem_conv`, "valid" padding, with a bias, then the
    activation), then one stage per entry of `filters`: each stage's first
    convolution is followed by a 2x2 max pool, the rest keep the size. Every
    stage convolution is followed by batch normalisation and the activation.
    The head is a global max pool, dropout, a dense layer (`logits`), a
    weightless scaling (`logit_scale`) and the classifier activation
    (`predictions`). The training recipe sets the stem to a fixed
    patch-whitening filter bank computed from the training images
    (`zoo.cifar.init_whitening`); built here it is an ordinary trainable
    convolution.

    Args:
        input_shape: `(height, width, channels)`, at least 9x9. Defaults to
            `(32, 32, 3)`.
        classes: Number of classes. Defaults to 10.
        include_top: Whether to include the pooling-classifier head. Defaults
            to True.
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        weights: None, `"cifar10"` (trained by the zoo's recipe on a real
            CIFAR-10 subset and shipped with the package; see
            `model_info("cifar10_net")["weights"]`), or the path to a weights
            file saved from the same configuration. Defaults to None.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        stem_filters: Filters of the stem convolution; for whitening, an
            even number at most `2 * stem_kernel_size**2 * channels`.
            Defaults to 24.
        stem_kernel_size: Size of the stem convolution's square kernel.
            Defaults to 2.
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
        test_time_augmentation: What the model averages its logits over at
            inference (test-time augmentation, part of the saved model;
            training sees single images): `"flip"` (each image and its
            left-right mirror), `"flip_translate"` (also both shifted by one
            pixel diagonally, weighted half, as airbench: 3x the inference
            cost of `"flip"`, for +0.25 points on average, better in 9 of 16
            trained models on a 2-core Zen 4, and +0.86, better in 18 of 20,
            on a 2-core Intel Xeon with AMX; `zoo train cifar10_net` builds
            it) or None. Defaults to `"flip"` (2x the inference cost of
            None, +2.2 points on average, better in all 16 on the Zen 4;
            +1.9, better in 19 of 20 on the Xeon). Paired on the same
            weights by `benchmarks/recipe_runs.py cifar10_net --views`,
            runs of the recipe on the CIFAR-10 subset's 423 test images.
        input_tensor: A Keras tensor to use as the model's input. Defaults
            to None.
        features_only: Whether to return the feature map of each stage
            (the stem's, then each stage's last activation) instead of the
            classifier, without test-time views; `include_top` and
            `pooling` are ignored. Defaults to False.
        out_indices: With `features_only`, which stages to return.
            None for all. Defaults to None.
        name: Model name. Defaults to `"cifar10_net"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument.

    Examples:

        >>> from zoo import cifar10_net
        >>> model = cifar10_net()
        >>> model.output_shape
        (None, 10)
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(cifar10_net, locals())
    _common.check_positive_int("stem_filters", stem_filters)
    _common.check_positive_int("stem_kernel_size", stem_kernel_size)
    views = checked_views(test_time_augmentation, include_top=include_top)
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
    weights = _common.check_weights_path(weights, named=_common.pretrained_tags(cifar10_net))
    input_shape = _common.check_input_shape(
        _common.input_shape_of(input_tensor, input_shape),
        default=DEFAULT_INPUT_SHAPE,
        min_size=2 ** len(filters) + stem_kernel_size - 1,
        require_static=False,
    )

    inputs = _common.image_input(input_shape, input_tensor)
    x = input_views(inputs, include_preprocessing=include_preprocessing, views=views)
    x = keras.layers.Conv2D(
        stem_filters, stem_kernel_size, padding="valid",
        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None, name="stem_conv",
    )(x)
    x = keras.layers.Activation(activation, name="stem_act")(x)
    for stage, width in enumerate(filters, start=1):
        for conv in range(1, convs_per_stage + 1):
            x = _conv_bn_act(
                x, width, activation=activation, l2=l2,
                name=f"stage{stage}_block{conv}", pool=conv == 1,
            )

    if include_top:
        x = scaled_head(x, classes=classes, dropout=dropout, views=views, logit_scale=logit_scale,
                        classifier_activation=classifier_activation)
    else:
        x = _common.global_pool(x, pooling)

    return _common.finish_model(
        inputs, x, name=name, weights=weights, factory=cifar10_net, input_tensor=input_tensor
    )


def input_views(inputs, *, include_preprocessing: bool, views: str | None):
    """The CIFAR-10 normalisation (one mean and variance for other channel
    counts than 3), then the test-time views, as the CIFAR family's models begin."""
    x = inputs
    if include_preprocessing:
        mean, variance = np.array(CIFAR10_MEAN), np.square(CIFAR10_STD)
        if inputs.shape[-1] != 3:
            mean, variance = mean.mean(), variance.mean()
        x = keras.layers.Normalization(mean=mean.tolist(), variance=variance.tolist(), name="normalization")(x)
    return stack_views(x, views)


def scaled_head(x, *, classes: int, dropout: float, views: str | None, logit_scale: float, classifier_activation):
    """The CIFAR family's classifier: a global max pool, logits merged over
    the test-time views and scaled by `logit_scale`, then the activation."""
    x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(classes, name="logits")(x)
    x = merge_views(x, views)
    x = keras.layers.Rescaling(logit_scale, name="logit_scale")(x)
    return keras.layers.Activation(classifier_activation, name="predictions")(x)
