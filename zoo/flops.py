"""Counts the floating-point operations of a model's forward pass.

Counts 2 FLOPs per multiply-add in convolutions (regular, depthwise,
separable, transposed and the fixed filter banks) and dense layers, the
work that dominates a convnet; bias adds, activations, pooling and
normalisation are left out. By this count VGG-16 at 224x224 takes 30.9
GFLOPs (15.5 G multiply-adds).
"""

from __future__ import annotations

import math

import keras


def _spatial(shape) -> int:
    """The product of the spatial dimensions of a `(batch, ..., channels)` shape."""
    if any(d is None for d in shape[1:-1]):
        raise ValueError(
            "FLOPs need a fixed input size; build the model with a full "
            f"`input_shape`. Received: a layer output of shape {shape}"
        )
    return math.prod(shape[1:-1])


def _layer_flops(layer) -> int:
    from zoo.layers import FixedFilterBank

    if isinstance(layer, keras.Model):
        return count_flops(layer)
    if isinstance(layer, FixedFilterBank):
        # Every output channel is one input channel under one filter.
        height, width = layer.kernel.shape[:2]
        return 2 * _spatial(layer.output.shape) * layer.output.shape[-1] * height * width
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        # Each output value is one k x k dot product.
        return 2 * _spatial(layer.output.shape) * layer.output.shape[-1] * math.prod(
            layer.kernel_size
        )
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        # A depthwise k x k convolution, then a 1x1 one over its channels.
        depthwise = layer.input.shape[-1] * layer.depth_multiplier
        return 2 * _spatial(layer.output.shape) * depthwise * (math.prod(layer.kernel_size) + layer.filters)
    if isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)):
        # Each input value scatters a k x k x filters block.
        return 2 * _spatial(layer.input.shape) * layer.input.shape[-1] * math.prod(layer.kernel_size) * layer.filters
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        per_output = math.prod(layer.kernel_size) * layer.input.shape[-1] // layer.groups
        return 2 * _spatial(layer.output.shape) * layer.filters * per_output
    if isinstance(layer, keras.layers.Dense):
        return 2 * _spatial(layer.output.shape) * layer.input.shape[-1] * layer.units
    return 0


def count_flops(model: keras.Model) -> int:
    """Returns the FLOPs of one image's forward pass through `model`.

    The pass training makes: a model with test-time views
    (`zoo.layers.TestTimeViews`, which `cifar10_net` builds by default)
    runs each of them through the layers at inference, so its inference
    costs this count times the number of views.

    Args:
        model: A built Functional or Sequential model with a fixed input size.

    Returns:
        FLOPs per image, counting 2 per multiply-add.

    Examples:

        >>> from zoo import mnist_convnet
        >>> count_flops(mnist_convnet())
        5588480
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(
            "`model` must be a built Keras model: give a Sequential model a `keras.Input` "
            f"first, or call `build`. Received: model={model!r}"
        )
    return sum(_layer_flops(layer) for layer in model.layers)
