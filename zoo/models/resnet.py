"""ResNet-50, interchangeable with `keras.applications.ResNet50`.

The layers carry the names and weight shapes of keras.applications'
ResNet50 (v1: bottleneck blocks, the stride on their first 1x1 convolution,
batch normalisation after every convolution), so weights move between them
in either direction. Unlike keras.applications, the model takes raw RGB
pixels in [0, 255]: the "caffe" preprocessing (RGB to BGR, minus the
ImageNet channel means) is part of the model, as weightless layers.

Reference:
    K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
    Recognition", CVPR 2016. https://arxiv.org/abs/1512.03385
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo import _common
from zoo.features import build_feature_model, numbered, stage_rule, wants_features
from zoo.models import _imagenet
from zoo.registry import register_model

# Bottleneck blocks per stage (conv2 to conv5), and their bottleneck widths.
RESNET_CONFIGS = {"resnet50": (3, 4, 6, 3)}
STAGE_FILTERS = (64, 128, 256, 512)
BN_EPSILON = 1.001e-5  # keras.applications' value
HEAD = ("predictions",)

_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/{file}"
# (architecture, include_top) -> (file name, md5), as in keras.applications.
IMAGENET_WEIGHTS = {
    ("resnet50", True): ("resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107"),
    ("resnet50", False): ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626"),
}
DOWNLOAD_TIMEOUT_S = _imagenet.DOWNLOAD_TIMEOUT_S


@stage_rule("resnet")
def _stage_ends(names):
    # The stem's activation (stride 2), then each stage's last block output.
    if "conv1_relu" not in names:
        return None
    blocks = {}
    for stage, block in numbered(names, r"conv(\d+)_block(\d+)_out"):
        blocks[stage] = max(block, blocks.get(stage, 0))
    return ["conv1_relu"] + [f"conv{s}_block{b}_out" for s, b in sorted(blocks.items())]


def imagenet_weights_path(arch: str, include_top: bool) -> str:
    """Returns the cached keras.applications ImageNet file, downloading it if
    needed (md5-checked, cached in `$KERAS_HOME/models`).

    Raises:
        ValueError: If the file is neither cached nor downloadable; the
            message says where to put a copy.
    """
    fname, md5 = IMAGENET_WEIGHTS[(arch, include_top)]
    return _imagenet.download(fname, _WEIGHTS_URL.format(file=fname), md5, timeout=DOWNLOAD_TIMEOUT_S)


def _bottleneck(x, filters: int, *, stride: int, conv_shortcut: bool, name: str):
    """keras.applications' `residual_block_v1`: 1x1, 3x3, 1x1 (4x wider) and a shortcut."""

    def bn(name):
        return keras.layers.BatchNormalization(axis=-1, epsilon=BN_EPSILON, name=name)

    if conv_shortcut:
        shortcut = keras.layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = keras.layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = bn(f"{name}_1_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = bn(f"{name}_2_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = keras.layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = bn(f"{name}_3_bn")(x)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def _build_resnet(
    arch: str,
    *,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    include_preprocessing,
    features_only,
    out_indices,
    name,
) -> keras.Model:
    _common.check_head(
        include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights=weights,
    )
    weights = _common.check_weights_path(weights, named=("imagenet",))
    default = (224, 224, 3) if include_top else (None, None, 3)
    input_shape = _common.check_input_shape(
        _common.input_shape_of(input_tensor, input_shape), default=default, min_size=32, require_static=False,
    )
    inputs = _common.image_input(input_shape, input_tensor)
    x = _imagenet.caffe_preprocessing(inputs, input_shape[-1]) if include_preprocessing else inputs
    x = keras.layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = keras.layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = keras.layers.BatchNormalization(axis=-1, epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (blocks, filters) in enumerate(zip(RESNET_CONFIGS[arch], STAGE_FILTERS), start=2):
        for block in range(1, blocks + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            x = _bottleneck(x, filters, stride=stride, conv_shortcut=block == 1, name=f"conv{stage}_block{block}")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = _common.classifier_head(x, classes=classes, classifier_activation=classifier_activation)
    else:
        x = _common.global_pool(x, pooling)
    model = _common.finish_model(inputs, x, name=name, weights=None, input_tensor=input_tensor)

    full_head = include_top and classes == 1000
    _imagenet.load_weights(
        model, weights, imagenet_file=lambda: imagenet_weights_path(arch, full_head), load_head=full_head,
        head=HEAD, first_conv="conv1_conv", adapt_first=_imagenet.caffe_first_conv,
    )
    return model


@register_model
def resnet50(
    *,
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
    name: str = "resnet50",
) -> keras.Model:
    """Builds ResNet-50: a 7x7 stem, then 16 bottleneck blocks in 4 stages.

    Layer names and weight shapes equal `keras.applications.ResNet50`'s:
    25,636,712 parameters with the top, 23,587,712 without.

    Args:
        include_top: Whether to include the classifier (global average
            pooling and a dense layer). Defaults to True.
        weights: None (random initialisation); `"imagenet"` (the official
            keras.applications file, downloaded once, md5-checked and cached
            in `$KERAS_HOME/models`); or the path to a weights file: a
            keras.applications-style `.h5` file (full or `_notop`), loaded by
            layer name, or a Keras 3 `.weights.h5` file saved from the same
            configuration. Unlike keras.applications, nothing is downloaded
            unless asked for. Defaults to None.
        input_tensor: A Keras tensor to use as the model's input, as in
            keras.applications; `input_shape` defaults to its shape.
            Defaults to None.
        input_shape: `(height, width, channels)`, at least 32x32; height and
            width may be None. Defaults to `(224, 224, 3)`, or
            `(None, None, 3)` when `include_top=False`. The pooled head takes
            any size, with pretrained weights too. Any channel count takes
            pretrained weights: with other than 3, the model subtracts
            `IMAGENET_MEAN_GREY` from every channel, `conv1_conv`'s kernel is
            adapted from the file's (summed for 1 channel; repeated and
            rescaled for more, see `zoo.weights.adapt_kernel`) and the
            channel means are folded into its bias, so an image with equal
            channels gives the RGB model's responses on R = G = B but for
            the 3-pixel border, where the zero padding differs.
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        classes: Number of classes. With pretrained weights, any value other
            than 1000 loads the convolutional base and builds a new
            `predictions` layer, randomly initialised. Defaults to 1000.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        include_preprocessing: Whether the model converts raw RGB pixels as
            `keras.applications.resnet50.preprocess_input` does. Defaults to
            True. Without it the model is keras.applications' exactly.
        features_only: Whether to return the feature map of each stage (the
            stem's activation at stride 2, then each stage's last block, at
            strides 4 to 32) instead of the classifier; `include_top` and
            `pooling` are ignored, so any input of at least 32x32 works.
            Defaults to False.
        out_indices: With `features_only`, which stages to return (indices,
            negative ones from the last), None for all five. Defaults to None.
        name: Model name. Defaults to `"resnet50"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument, or a weights file that is
            corrupt, missing or does not fit.

    Examples:

        >>> from zoo import resnet50
        >>> base = resnet50(include_top=False, input_shape=(64, 64, 3), pooling="avg")
        >>> base.count_params(), base.output_shape
        (23587712, (None, 2048))
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(resnet50, locals())
    return _build_resnet("resnet50", **locals())
