"""keras-zoo: a Keras 3 model zoo for convolutional networks.

Importing `zoo` registers its layers with Keras, so `.keras` files holding
them load with `keras.saving.load_model` and no `custom_objects`.

Examples:

    >>> from zoo import list_models, create_model
    >>> list_models()
    ['cifar10_net', 'edge_convnet', 'lm_convnet', 'mnist_convnet', 'mobilenet_v2', 'resnet50', 'resnet9', 'vgg16', 'vgg19']
    >>> create_model("mnist_convnet").count_params()
    93322
"""

import sys as _sys

from zoo import layers, models
from zoo.features import feature_extractor
from zoo.flops import count_flops
from zoo.models.cifar import cifar10_net
from zoo.models.filter_convnets import edge_convnet, lm_convnet
from zoo.models.mnist import mnist_convnet
from zoo.models.mobilenet import mobilenet_v2
from zoo.models.resnet import resnet50
from zoo.models.resnet_cifar import resnet9
from zoo.models.vgg import vgg16, vgg19
from zoo.registry import create_model, list_models, model_info, register_model
from zoo.tuning import hypermodel
from zoo.weights import decode_predictions

# The families' modules kept their paths when zoo/models/ grouped them:
# `zoo.vgg`, `from zoo.cifar import init_whitening` and the rest still work.
for _family in (models.cifar, models.filter_convnets, models.mnist, models.vgg):
    _sys.modules[f"zoo.{_family.__name__.rsplit('.', 1)[1]}"] = _family
cifar, filter_convnets, mnist, vgg = models.cifar, models.filter_convnets, models.mnist, models.vgg

__version__ = "0.1.0"

__all__ = [
    "cifar10_net",
    "count_flops",
    "create_model",
    "decode_predictions",
    "edge_convnet",
    "feature_extractor",
    "hypermodel",
    "layers",
    "list_models",
    "lm_convnet",
    "mnist_convnet",
    "mobilenet_v2",
    "model_info",
    "register_model",
    "resnet50",
    "resnet9",
    "vgg16",
    "vgg19",
]
