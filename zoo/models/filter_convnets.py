"""Convnets with a frozen filter bank as their first layer.

`edge_convnet` and `lm_convnet` put `EdgeFilters` or `LeungMalikFilters` where
`mnist_convnet` has its learned first convolution, followed by the same
trainable head: comparing them shows what learned filters buy over fixed ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo import _common
from zoo.features import build_feature_model, wants_features
from zoo.layers import EdgeFilters, LeungMalikFilters
from zoo.models.mnist import build_classic_convnet
from zoo.registry import register_model


def _build_filter_convnet(bank: keras.layers.Layer, **kwargs) -> keras.Model:
    def front(x):
        x = bank(x)
        # Bank responses differ in scale by orders of magnitude; normalise them.
        x = keras.layers.BatchNormalization(momentum=_common.BN_MOMENTUM, name="bank_bn")(x)
        return keras.layers.MaxPooling2D(2, name="bank_pool")(x)

    return build_classic_convnet(front, batch_norm=False, padding="valid", **kwargs)


@register_model
def edge_convnet(
    *,
    input_shape: tuple | None = None,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | None = None,
    classifier_activation: str | None = "softmax",
    operator: str = "sobel",
    filters: Sequence[int] = (64, 64),
    dense_units: int = 64,
    dropout: float = 0.0,
    include_preprocessing: bool = True,
    input_tensor=None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    name: str = "edge_convnet",
) -> keras.Model:
    """Builds a convnet whose first layer is a frozen 3x3 edge filter pair.

    Rescaling, `EdgeFilters` (2 maps per input channel), batch normalisation
    and a 2x2 max pool, then `mnist_convnet`'s trainable layers: one 3x3
    convolution per entry of `filters` with pools between, flatten, a hidden
    dense layer and the classifier.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(28, 28, 1)`.
        classes: Number of classes. Defaults to 10.
        include_top: Whether to include the flatten-dense head. Defaults to True.
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        weights: None, `"mnist"` (trained by the zoo's recipe on a real
            MNIST subset and shipped with the package; see
            `model_info(name)["weights"]`), or the path to a weights file
            saved from the same configuration. Defaults to None.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        operator: `"sobel"`, `"prewitt"` or `"scharr"`. Defaults to `"sobel"`.
        filters: Filters of the trainable convolutions. Defaults to `(64, 64)`.
        dense_units: Units of the hidden dense layer, 0 for none. Defaults to 64.
        dropout: Dropout rate before the classifier. Defaults to 0.0.
        include_preprocessing: Whether the model rescales raw [0, 255] pixels
            to [0, 1] itself. Defaults to True.
        input_tensor: A Keras tensor to use as the model's input. Defaults
            to None.
        features_only: Whether to return the feature map of each stage
            (the normalised filter-bank maps, then one per convolution)
            instead of the classifier; `include_top` and `pooling` are
            ignored. Defaults to False.
        out_indices: With `features_only`, which stages to return.
            None for all. Defaults to None.
        name: Model name. Defaults to `"edge_convnet"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument.

    Examples:

        >>> from zoo import edge_convnet
        >>> model = edge_convnet()
        >>> tuple(model.get_layer("edge_filters").kernel.shape)
        (3, 3, 1, 2)
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(edge_convnet, locals())
    return _build_filter_convnet(
        EdgeFilters(operator=operator, name="edge_filters"),
        factory=edge_convnet,
        input_tensor=input_tensor,
        input_shape=input_shape,
        classes=classes,
        include_top=include_top,
        pooling=pooling,
        weights=weights,
        classifier_activation=classifier_activation,
        filters=filters,
        dense_units=dense_units,
        dropout=dropout,
        include_preprocessing=include_preprocessing,
        name=name,
    )


@register_model
def lm_convnet(
    *,
    input_shape: tuple | None = None,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | None = None,
    classifier_activation: str | None = "softmax",
    support: int = 49,
    scales: Sequence[float] | None = None,
    blob_scales: Sequence[float] | None = None,
    filters: Sequence[int] = (64, 64),
    dense_units: int = 64,
    dropout: float = 0.0,
    include_preprocessing: bool = True,
    input_tensor=None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    name: str = "lm_convnet",
) -> keras.Model:
    """Builds a convnet whose first layer is the frozen Leung-Malik bank.

    Like `edge_convnet`, with `LeungMalikFilters` (48 maps per input
    channel) as the front end.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(28, 28, 1)`.
        classes: Number of classes. Defaults to 10.
        include_top: Whether to include the flatten-dense head. Defaults to True.
        pooling: For `include_top=False`: None, `"avg"` or `"max"`. Defaults
            to None.
        weights: None, `"mnist"` (trained by the zoo's recipe on a real
            MNIST subset and shipped with the package; see
            `model_info(name)["weights"]`), or the path to a weights file
            saved from the same configuration. Defaults to None.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        support: Side of the LM filters. Defaults to 49.
        scales: Sigmas of the oriented filters, None for sqrt(2)^1..3.
            Defaults to None.
        blob_scales: Sigmas of the Gaussians and LoGs, None for
            sqrt(2)^1..4. Defaults to None.
        filters: Filters of the trainable convolutions. Defaults to `(64, 64)`.
        dense_units: Units of the hidden dense layer, 0 for none. Defaults to 64.
        dropout: Dropout rate before the classifier. Defaults to 0.0.
        include_preprocessing: Whether the model rescales raw [0, 255] pixels
            to [0, 1] itself. Defaults to True.
        input_tensor: A Keras tensor to use as the model's input. Defaults
            to None.
        features_only: Whether to return the feature map of each stage
            (the normalised filter-bank maps, then one per convolution)
            instead of the classifier; `include_top` and `pooling` are
            ignored. Defaults to False.
        out_indices: With `features_only`, which stages to return.
            None for all. Defaults to None.
        name: Model name. Defaults to `"lm_convnet"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument.

    Examples:

        >>> from zoo import lm_convnet
        >>> tuple(lm_convnet().get_layer("lm_filters").kernel.shape)
        (49, 49, 1, 48)
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(lm_convnet, locals())
    return _build_filter_convnet(
        LeungMalikFilters(
            support=support, scales=scales, blob_scales=blob_scales, name="lm_filters"
        ),
        factory=lm_convnet,
        input_tensor=input_tensor,
        input_shape=input_shape,
        classes=classes,
        include_top=include_top,
        pooling=pooling,
        weights=weights,
        classifier_activation=classifier_activation,
        filters=filters,
        dense_units=dense_units,
        dropout=dropout,
        include_preprocessing=include_preprocessing,
        name=name,
    )
