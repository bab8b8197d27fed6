"""VGG-16 and VGG-19, interchangeable with `keras.applications`.

The layers carry the names and weight shapes of `keras.applications.VGG16`
and `VGG19`, so weights move between them in either direction. Unlike
keras.applications, the models take raw RGB pixels in [0, 255]: the "caffe"
preprocessing (RGB to BGR, minus the ImageNet channel means) is part of the
model, as weightless layers.

Reference:
    K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for
    Large-Scale Image Recognition", ICLR 2015. https://arxiv.org/abs/1409.1556
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo import _common
from zoo.features import build_feature_model, numbered, stage_rule, wants_features
from zoo.models import _imagenet
from zoo.models._imagenet import IMAGENET_MEAN_BGR, IMAGENET_MEAN_GREY  # noqa: F401  (the family's constants)
from zoo.registry import register_model

# Convolutions per block; every block ends in a 2x2 max pool.
VGG_CONFIGS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BLOCK_FILTERS = (64, 128, 256, 512, 512)
HEAD = ("fc1", "fc2", "predictions")

_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/{arch}/{file}"
# (architecture, include_top) -> (file name, md5), as in keras.applications.
IMAGENET_WEIGHTS = {
    ("vgg16", True): ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16", False): ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", True): ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19", False): ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
}
DOWNLOAD_TIMEOUT_S = _imagenet.DOWNLOAD_TIMEOUT_S


@stage_rule("vgg")
def _stage_ends(names):
    # The last convolution of each block, before its pool.
    blocks = {}
    for block, conv in numbered(names, r"block(\d+)_conv(\d+)"):
        blocks[block] = max(conv, blocks.get(block, 0))
    return [f"block{b}_conv{c}" for b, c in sorted(blocks.items())] or None


def imagenet_weights_path(arch: str, include_top: bool) -> str:
    """Returns the cached ImageNet weights file, downloading it if needed.

    The file is the official keras.applications one, fetched with
    `keras.utils.get_file`, verified against its md5 hash and cached in
    `$KERAS_HOME/models` (`~/.keras/models` by default).

    Raises:
        ValueError: If the file is neither cached nor downloadable; the
            message says where to put a copy.
    """
    fname, md5 = IMAGENET_WEIGHTS[(arch, include_top)]
    origin = _WEIGHTS_URL.format(arch=arch, file=fname)
    return _imagenet.download(fname, origin, md5, timeout=DOWNLOAD_TIMEOUT_S)


def _build_vgg(
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
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        weights=weights,
    )
    weights = _common.check_weights_path(weights, named=("imagenet",))
    default = (224, 224, 3) if include_top else (None, None, 3)
    input_shape = _common.check_input_shape(
        _common.input_shape_of(input_tensor, input_shape),
        default=default, min_size=32, require_static=include_top,
    )
    channels = input_shape[-1]
    # The pretrained head needs a 7x7x512 map from a 224x224 input.
    full_head = include_top and classes == 1000
    if weights is not None and full_head and input_shape[:2] != (224, 224):
        raise ValueError(
            "The pretrained 1000-class head needs a 224x224 input. Pass another "
            "`classes` to build a new head, or include_top=False. "
            f"Received: input_shape={input_shape}"
        )

    inputs = _common.image_input(input_shape, input_tensor)
    x = _imagenet.caffe_preprocessing(inputs, channels) if include_preprocessing else inputs
    for block, (num_convs, filters) in enumerate(zip(VGG_CONFIGS[arch], BLOCK_FILTERS), start=1):
        for conv in range(1, num_convs + 1):
            x = keras.layers.Conv2D(
                filters, 3, activation="relu", padding="same", name=f"block{block}_conv{conv}"
            )(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)

    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(4096, activation="relu", name="fc1")(x)
        x = keras.layers.Dense(4096, activation="relu", name="fc2")(x)
        x = _common.classifier_head(
            x, classes=classes, classifier_activation=classifier_activation
        )
    else:
        x = _common.global_pool(x, pooling)
    model = _common.finish_model(inputs, x, name=name, weights=None, input_tensor=input_tensor)

    _imagenet.load_weights(
        model, weights, imagenet_file=lambda: imagenet_weights_path(arch, full_head), load_head=full_head,
        head=HEAD, first_conv="block1_conv1", adapt_first=_imagenet.caffe_first_conv,
    )
    return model


@register_model
def vgg16(
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
    name: str = "vgg16",
) -> keras.Model:
    """Builds VGG-16: 13 3x3 convolutions in 5 blocks, then 3 dense layers.

    Layer names and weight shapes equal `keras.applications.VGG16`'s:
    138,357,544 parameters with the top, 14,714,688 without.

    Args:
        include_top: Whether to include the 3 dense layers. Defaults to True.
        weights: None (random initialisation); `"imagenet"` (the official
            keras.applications file, downloaded once, hash-checked and
            cached); or the path to a weights file: a keras.applications-style
            `.h5` file (full or `_notop`), loaded by layer name, or a Keras 3
            `.weights.h5` file saved from the same configuration. Unlike
            keras.applications, nothing is downloaded unless asked for.
            Defaults to None.
        input_tensor: A Keras tensor to use as the model's input, as in
            keras.applications; `input_shape` defaults to its shape.
            Defaults to None.
        input_shape: `(height, width, channels)`, at least 32x32. Defaults to
            `(224, 224, 3)`, or `(None, None, 3)` when `include_top=False`.
            Any channel count takes pretrained weights. With other than 3,
            the model subtracts `IMAGENET_MEAN_GREY` from every channel, the
            first convolution's kernel is adapted from the file's RGB one
            (summed for 1 channel; repeated and rescaled for more, see
            `zoo.weights.adapt_kernel`) and the ImageNet channel means are
            folded into its bias, so an image with equal channels gives the
            RGB model's `block1_conv1` responses on R = G = B exactly, but
            for the 1-pixel border, where the zero padding differs. That
            border moves the pooled features of a grey model by 0.4-1.1 %
            at 32x32 and 0.02-0.06 % at 224x224 (relative L2 difference;
            random weights, uniform-noise and smooth grey images; AMD EPYC
            Zen 4 CPU).
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        classes: Number of classes. With pretrained weights, any value other
            than 1000 loads the convolutional base and builds a new head
            (fc1, fc2 and predictions, randomly initialised). Defaults to 1000.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        include_preprocessing: Whether the model converts raw RGB pixels as
            `keras.applications.vgg16.preprocess_input` does. Defaults to True.
            Without it, a 3-channel model takes what `preprocess_input`
            returns (BGR minus the ImageNet means), a 1-channel one grey
            pixels minus `IMAGENET_MEAN_GREY` (114.799), the mean of those
            means, which its pretrained weights expect.
        features_only: Whether to return the feature map of each block
            (its last convolution, before the pool) instead of the
            classifier; `include_top` and `pooling` are ignored, so any
            input of at least 32x32 works. Defaults to False.
        out_indices: With `features_only`, which blocks to return (indices,
            negative ones from the last), None for all five. Defaults to None.
        name: Model name. Defaults to `"vgg16"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument, or a weights file that is
            corrupt, missing or does not fit.

    Examples:

        >>> from zoo import vgg16
        >>> base = vgg16(include_top=False, input_shape=(32, 32, 3), pooling="avg")
        >>> base.count_params(), base.output_shape
        (14714688, (None, 512))
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(vgg16, locals())
    return _build_vgg("vgg16", **locals())


@register_model
def vgg19(
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
    name: str = "vgg19",
) -> keras.Model:
    """Builds VGG-19: 16 3x3 convolutions in 5 blocks, then 3 dense layers.

    Layer names and weight shapes equal `keras.applications.VGG19`'s:
    143,667,240 parameters with the top, 20,024,384 without. The other
    arguments are those of `vgg16`.

    Args:
        name: Model name. Defaults to `"vgg19"`.

    Examples:

        >>> from zoo import vgg19
        >>> vgg19(include_top=False, input_shape=(32, 32, 3)).count_params()
        20024384
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(vgg19, locals())
    return _build_vgg("vgg19", **locals())
