"""The classic small MNIST convnet.

Conv2D(32, 3)-MaxPool-Conv2D(64, 3)-MaxPool-Conv2D(64, 3)-Flatten-Dense(64)-
Dense(10): 93,322 parameters at 28x28x1, the network of the TensorFlow
"Convolutional Neural Network (CNN)" tutorial. Widths, depth, padding, dropout
and batch normalisation are arguments, so keras-tuner can search them.

Reference:
    https://www.tensorflow.org/tutorials/images/cnn
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from zoo import _common
from zoo.features import build_feature_model, wants_features
from zoo.layers import checked_views, merge_views, stack_views
from zoo.registry import register_model

DEFAULT_INPUT_SHAPE = (28, 28, 1)


@register_model
def mnist_convnet(
    *,
    input_shape: tuple | None = None,
    classes: int = 10,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | None = None,
    classifier_activation: str | None = "softmax",
    filters: Sequence[int] = (32, 64, 64),
    dense_units: int = 64,
    dropout: float = 0.0,
    batch_norm: bool = False,
    padding: str = "valid",
    include_preprocessing: bool = True,
    test_time_augmentation: str | None = None,
    input_tensor=None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    name: str = "mnist_convnet",
) -> keras.Model:
    """Builds the classic MNIST convnet.

    Each entry of `filters` adds a 3x3 convolution with ReLU; a 2x2 max pool
    follows every convolution but the last. The head flattens, applies a
    hidden dense layer and the classifier.

    Args:
        input_shape: `(height, width, channels)`. Defaults to `(28, 28, 1)`.
        classes: Number of classes. Defaults to 10.
        include_top: Whether to include the flatten-dense head. Defaults to True.
        pooling: For `include_top=False`: None (4D feature map), `"avg"` or
            `"max"` global pooling. Defaults to None.
        weights: None (random initialisation), `"mnist"` (trained by the
            zoo's recipe on a real MNIST subset and shipped with the package;
            see `model_info("mnist_convnet")["weights"]`), or the path to a
            weights file saved from the same configuration. Shipped weights
            serve any channel count (the first convolution is adapted, see
            `zoo.weights.adapt_kernel`) and a new `classes` (new classifier).
            Defaults to None.
        classifier_activation: Activation of the last layer; None for logits.
            Defaults to `"softmax"`.
        filters: Filters of each convolution; its length is the depth.
            Defaults to `(32, 64, 64)`.
        dense_units: Units of the hidden dense layer, 0 for none. Defaults to 64.
        dropout: Dropout rate before the classifier. Defaults to 0.0.
        batch_norm: Whether to add batch normalisation after each convolution
            (the convolutions then drop their bias). Defaults to False.
        padding: Convolution padding, `"valid"` (classic) or `"same"`.
            Defaults to `"valid"`.
        include_preprocessing: Whether the model rescales raw [0, 255] pixels
            to [0, 1] itself. Defaults to True.
        test_time_augmentation: None, or views of each image whose logits
            the model averages at inference (with the classifier only; see
            `zoo.layers.TestTimeViews`): `"translate"`, the image and its
            one-pixel diagonal shifts, which `zoo train mnist_convnet`
            builds; `"flip"` and `"flip_translate"` add mirror images, for
            data a mirror does not change. No weights are added. Defaults
            to None.
        input_tensor: A Keras tensor to use as the model's input, as in
            keras.applications. Defaults to None.
        features_only: Whether to return the feature map of each stage
            instead of the classifier (`zoo.feature_extractor`): a list, one
            map per convolution; `include_top` and `pooling` are ignored.
            Defaults to False.
        out_indices: With `features_only`, which stages to return (indices,
            negative ones from the last), None for all. Defaults to None.
        name: Model name. Defaults to `"mnist_convnet"`.

    Returns:
        An uncompiled Functional `keras.Model` taking raw pixels in [0, 255].

    Raises:
        ValueError: For an invalid argument, or an input too small for the
            requested depth.

    Examples:

        >>> from zoo import mnist_convnet
        >>> model = mnist_convnet()
        >>> model.count_params()
        93322
    """
    if wants_features(features_only, out_indices):
        return build_feature_model(mnist_convnet, locals())
    return build_classic_convnet(
        None,
        factory=mnist_convnet,
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
        batch_norm=batch_norm,
        padding=padding,
        include_preprocessing=include_preprocessing,
        test_time_augmentation=test_time_augmentation,
        name=name,
    )


def build_classic_convnet(
    front: Callable | None,
    *,
    factory,
    input_tensor,
    input_shape,
    classes,
    include_top,
    pooling,
    weights,
    classifier_activation,
    filters,
    dense_units,
    dropout,
    batch_norm,
    padding,
    include_preprocessing,
    name,
    test_time_augmentation=None,
) -> keras.Model:
    """Validates the arguments and builds `mnist_convnet`'s layers.

    `front`, when given, adds layers between the preprocessing and the
    convolutions and halves the map once (the fixed-filter convnets put a
    frozen filter bank there). With `test_time_augmentation` (and the
    classifier), the images' views follow the preprocessing, and the logits
    (`logits`) are averaged over them before the activation (`predictions`).
    """
    filters = _common.check_int_sequence("filters", filters)
    _common.check_positive_int("dense_units", dense_units, allow_zero=True)
    dropout = _common.check_rate("dropout", dropout)
    _common.check_choice("batch_norm", batch_norm, (True, False))
    _common.check_choice("padding", padding, ("valid", "same"))
    views = checked_views(test_time_augmentation, include_top=include_top)
    _common.check_head(
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    weights = _common.check_weights_path(weights, named=_common.pretrained_tags(factory))
    input_shape = _common.check_input_shape(
        _common.input_shape_of(input_tensor, input_shape),
        default=DEFAULT_INPUT_SHAPE, min_size=1, require_static=include_top,
    )
    _common.check_conv_stack_fits(
        input_shape, len(filters), padding, halvings=0 if front is None else 1
    )

    inputs = _common.image_input(input_shape, input_tensor)
    x = inputs
    if include_preprocessing:
        x = keras.layers.Rescaling(1.0 / 255, name="rescaling")(x)
    x = stack_views(x, views)
    if front is not None:
        x = front(x)
    for i, width in enumerate(filters, start=1):
        if batch_norm:
            x = keras.layers.Conv2D(
                width, 3, padding=padding, use_bias=False, name=f"conv{i}"
            )(x)
            x = keras.layers.BatchNormalization(momentum=_common.BN_MOMENTUM, name=f"conv{i}_bn")(x)
            x = keras.layers.ReLU(name=f"conv{i}_relu")(x)
        else:
            x = keras.layers.Conv2D(
                width, 3, padding=padding, activation="relu", name=f"conv{i}"
            )(x)
        if i < len(filters):
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)

    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        if dense_units:
            x = keras.layers.Dense(dense_units, activation="relu", name="fc1")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        if views:
            x = keras.layers.Dense(classes, name="logits")(x)
            x = merge_views(x, views)
            x = keras.layers.Activation(classifier_activation, name="predictions")(x)
        else:
            x = _common.classifier_head(
                x, classes=classes, classifier_activation=classifier_activation
            )
    else:
        x = _common.global_pool(x, pooling)
    return _common.finish_model(
        inputs, x, name=name, weights=weights, factory=factory, input_tensor=input_tensor
    )
