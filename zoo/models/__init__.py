"""The model families, one module each.

Importing a family registers its factories (`zoo.register_model`).
"""

from zoo.models import (
    cifar,
    filter_convnets,
    mnist,
    mobilenet,
    resnet,
    resnet_cifar,
    vgg,
)

__all__ = ["cifar", "filter_convnets", "mnist", "mobilenet", "resnet", "resnet_cifar", "vgg"]
