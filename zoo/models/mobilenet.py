"""MobileNetV2, interchangeable with `keras.applications.MobileNetV2`.

The layers carry the names and weight shapes of keras.applications'
MobileNetV2 (inverted residual blocks: a 1x1 expansion, a 3x3 depthwise
convolution and a linear 1x1 projection, with ReLU6), so weights move between
them in either direction. Unlike keras.applications, the model takes raw
pixels in [0, 255]: the "tf" preprocessing (`x / 127.5 - 1`) is part of the
model, as a weightless layer.

Reference:
    M. Sandler, A. Howard, M. Zhu, A. Zhmoginov and L.-C. Chen,
    "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.
    https://arxiv.org/abs/1801.04381
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import keras

from zoo import _common
from zoo.features import build_feature_model, numbered, stage_rule, wants_features
from zoo.models import _imagenet
from zoo.registry import register_model

# (expansion, output channels at alpha 1, repeats, first stride), as in the paper's Table 2.
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
BN = {"axis": -1, "epsilon": 1e-3, "momentum": 0.999}  # keras.applications' values
HEAD = ("predictions",)
# The widths and input sizes keras.applications has ImageNet weights for.
IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)

_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{file}"
DOWNLOAD_TIMEOUT_S = _imagenet.DOWNLOAD_TIMEOUT_S


@stage_rule("mobilenet_v2")
def _stage_ends(names):
    # The output of the block before each stride-2 block, then `out_relu`.
    if "Conv1" not in names or "out_relu" not in names:
        return None

    def block_output(i):
        prefix = "expanded_conv_" if i == 0 else f"block_{i}_"
        return f"{prefix}add" if f"{prefix}add" in names else f"{prefix}project_BN"

    strided = [i for (i,) in numbered(names, r"block_(\d+)_pad")]
    return [block_output(i - 1) for i in strided] + ["out_relu"]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a width to a multiple of `divisor`, never more than 10 % down
    (keras.applications' and the paper's `_make_divisible`)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def imagenet_weights_path(alpha: float, rows: int, include_top: bool) -> str:
    """Returns the cached keras.applications ImageNet file for `alpha` and
    `rows`, downloading it if needed (cached in `$KERAS_HOME/models`).

    keras.applications publishes no hash for these files: the sha256 of the
    first download is kept beside it and later loads are checked against it.

    Raises:
        ValueError: If the file is neither cached nor downloadable; the
            message says where to put a copy.
    """
    fname = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if include_top else '_no_top'}.h5"
    return _imagenet.download(fname, _WEIGHTS_URL.format(file=fname), None, timeout=DOWNLOAD_TIMEOUT_S)


def _inverted_residual(x, *, expansion: int, filters: int, stride: int, block_id: int):
    """keras.applications' `_inverted_res_block`, with its layer names."""
    inputs = x
    channels = x.shape[-1]
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = keras.layers.Conv2D(expansion * channels, 1, padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = keras.layers.BatchNormalization(**BN, name=f"{prefix}expand_BN")(x)
        x = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        # keras.applications' `correct_pad` for a 3x3 kernel: on an even (or
        # unknown) side one pixel below or right only, on an odd one on both.
        pad = [(0, 1) if side is None or side % 2 == 0 else (1, 1) for side in x.shape[1:3]]
        x = keras.layers.ZeroPadding2D(padding=tuple(pad), name=f"{prefix}pad")(x)
    x = keras.layers.DepthwiseConv2D(
        3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise"
    )(x)
    x = keras.layers.BatchNormalization(**BN, name=f"{prefix}depthwise_BN")(x)
    x = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = keras.layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = keras.layers.BatchNormalization(**BN, name=f"{prefix}project_BN")(x)
    if channels == filters and stride == 1:
        return keras.layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _weights_rows(input_shape) -> int:
    """The input size of the ImageNet file to load, as keras.applications picks it."""
    rows, cols = input_shape[:2]
    if rows == cols and rows in IMAGENET_SIZES:
        return rows
    if (rows, cols) != (None, None):
        warnings.warn(
            f"No MobileNetV2 ImageNet weights for input {rows}x{cols}: loading those trained at 224x224, "
            "as keras.applications does.",
            stacklevel=3,
        )
    return 224


@register_model
def mobilenet_v2(
    *,
    alpha: float = 1.0,
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    include_preprocessing: bool = True,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    name: str = "mobilenet_v2",
) -> keras.Model:
    """Builds MobileNetV2: a 3x3 stem, 17 inverted residual blocks and a 1x1 convolution.

    Layer names and weight shapes equal `keras.applications.MobileNetV2`'s:
    3,538,984 parameters with the top, 2,257,984 without, at `alpha=1.0`.

    Args:
        alpha: Width multiplier: every block's channels are scaled by it
            (rounded to multiples of 8), the last convolution's 1,280 only
            when it is above 1. ImageNet weights exist for 0.35, 0.5, 0.75,
            1.0, 1.3 and 1.4. Defaults to 1.0.
        include_top: Whether to include the classifier (global average
            pooling and a dense layer). Defaults to True.
        weights: None (random initialisation); `"imagenet"` (the official
            keras.applications file for `alpha` and the input size, 96, 128,
            160, 192 or 224, else 224's with a warning, as keras.applications
            does; downloaded once and cached in `$KERAS_HOME/models`;
            keras.applications publishes no hash for these files, so the
            sha256 of the first download is kept beside it and every later
            load is checked against it); or the path to a weights file: a
            keras.applications-style `.h5` file (full or `_no_top`), loaded
            by layer name, or a Keras 3 `.weights.h5` file saved from the
            same configuration. Unlike keras.applications, nothing is
            downloaded unless asked for. Defaults to None.
        input_tensor: A Keras tensor to use as the model's input, as in
            keras.applications; `input_shape` defaults to its shape.
            Defaults to None.
        input_shape: `(height, width, channels)`, at least 32x32; height and
            width may be None. Defaults to `(224, 224, 3)`, or
            `(None, None, 3)` when `include_top=False`. Any channel count
            takes pretrained weights: `Conv1`'s kernel is adapted from the
            file's (summed for 1 channel; repeated and rescaled for more, see
            `zoo.weights.adapt_kernel`), so an image with equal channels
            gives the RGB model's output on R = G = B exactly.
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        classes: Number of classes. With pretrained weights, any value other
            than 1000 loads the convolutional base and builds a new
            `predictions` layer, randomly initialised. Defaults to 1000.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        include_preprocessing: Whether the model scales raw pixels to
            [-1, 1] as `keras.applications.mobilenet_v2.preprocess_input`
            does. Defaults to True. Without it the model is
            keras.applications' exactly.
        features_only: Whether to return the feature map of each stage (the
            last block at strides 2, 4, 8 and 16, then `out_relu` at 32)
            instead of the classifier; `include_top` and `pooling` are
            ignored, so any input of at least 32x32 works. Defaults to False.
        out_indices: With `features_only`, which stages to return (indices,
            negative ones from the last), None for all five. Defaults to None.
        name: Model name. Defaults to `"mobilenet_v2"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument, or a weights file that is
            corrupt, missing or does not fit.

    Examples:

        >>> from zoo import mobilenet_v2
        >>> model = mobilenet_v2(alpha=0.35, input_shape=(96, 96, 3), classes=10)
        >>> model.count_params(), model.output_shape
        (423018, (None, 10))
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(mobilenet_v2, locals())
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"`alpha` must be a positive number. Received: alpha={alpha!r}")
    _common.check_head(
        include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights=weights,
    )
    weights = _common.check_weights_path(weights, named=("imagenet",))
    if weights == "imagenet" and alpha not in IMAGENET_ALPHAS:
        raise ValueError(
            f"ImageNet weights exist for `alpha` in {list(IMAGENET_ALPHAS)}. Received: alpha={alpha!r}"
        )
    default = (224, 224, 3) if include_top else (None, None, 3)
    input_shape = _common.check_input_shape(
        _common.input_shape_of(input_tensor, input_shape), default=default, min_size=32, require_static=False,
    )
    inputs = _common.image_input(input_shape, input_tensor)
    x = _imagenet.tf_preprocessing(inputs) if include_preprocessing else inputs
    x = keras.layers.Conv2D(make_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="Conv1")(x)
    x = keras.layers.BatchNormalization(**BN, name="bn_Conv1")(x)
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(x)
    block_id = 0
    for expansion, filters, repeats, stride in BLOCKS:
        for i in range(repeats):
            x = _inverted_residual(
                x, expansion=expansion, filters=make_divisible(int(filters * alpha)),
                stride=stride if i == 0 else 1, block_id=block_id,
            )
            block_id += 1
    # The paper widens the last convolution with alpha > 1 only.
    x = keras.layers.Conv2D(make_divisible(1280 * alpha) if alpha > 1.0 else 1280, 1, use_bias=False, name="Conv_1")(x)
    x = keras.layers.BatchNormalization(**BN, name="Conv_1_bn")(x)
    x = keras.layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = _common.classifier_head(x, classes=classes, classifier_activation=classifier_activation)
    else:
        x = _common.global_pool(x, pooling)
    model = _common.finish_model(inputs, x, name=name, weights=None, input_tensor=input_tensor)

    full_head = include_top and classes == 1000
    _imagenet.load_weights(
        model, weights, imagenet_file=lambda: imagenet_weights_path(alpha, _weights_rows(input_shape), full_head),
        load_head=full_head, head=HEAD, first_conv="Conv1", adapt_first=_imagenet.tf_first_conv,
    )
    return model
