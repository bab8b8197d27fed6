"""keras-zoo: a Keras 3 model zoo for convolutional networks.

Importing `zoo` registers its layers with Keras, so `.keras` files holding
them load with `keras.saving.load_model` and no `custom_objects`.

Examples:

    >>> from zoo import list_models, create_model
    >>> list_models()
    ['cifar10_net', 'edge_convnet', 'lm_convnet', 'mnist_convnet', 'vgg16', 'vgg19']
    >>> create_model("mnist_convnet").count_params()
    93322
"""

from zoo import layers
from zoo.cifar import cifar10_net
from zoo.features import feature_extractor
from zoo.filter_convnets import edge_convnet, lm_convnet
from zoo.flops import count_flops
from zoo.mnist import mnist_convnet
from zoo.registry import create_model, list_models, model_info, register_model
from zoo.tuning import hypermodel
from zoo.vgg import vgg16, vgg19
from zoo.weights import decode_predictions

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
    "model_info",
    "register_model",
    "vgg16",
    "vgg19",
]
