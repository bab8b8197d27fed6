"""The plain-Keras models the zoo is measured against, and how they train.

- `keras_mnist_example`: the Keras "Simple MNIST convnet" example
  (keras-io/examples/vision/mnist_convnet.py): Conv32-Pool-Conv64-Pool-
  Flatten-Dropout(0.5)-Dense10, Adam, batch 128.
- `keras_cifar10_example`: the classic Keras cifar10_cnn example
  (keras/examples/cifar10_cnn.py, Keras 2): Conv32x2-Pool-Conv64x2-Pool-
  Dense512 with dropout, RMSprop 1e-4 with decay 1e-6, batch 32.
- `keras.applications.VGG16` / `VGG19` / `ResNet50` / `MobileNetV2`, trained
  like the zoo's recipes for their twins.

Each takes inputs scaled to [0, 1], as the examples do; the zoo's models take
raw pixels. `benchmarks/reference/` trains the two examples as they were
written; `zoo bench` times all of them beside the zoo's models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
from keras import layers


def keras_mnist_example(input_shape=(28, 28, 1), classes: int = 10) -> keras.Model:
    """The Keras "Simple MNIST convnet" example's model (34,826 parameters)."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(classes, activation="softmax"),
        ],
        name="keras_mnist_example",
    )


def keras_cifar10_example(input_shape=(32, 32, 3), classes: int = 10) -> keras.Model:
    """The classic Keras cifar10_cnn example's model (1,250,858 parameters)."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.25),
            layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(classes, activation="softmax"),
        ],
        name="keras_cifar10_example",
    )


def keras_cifar10_optimizer() -> keras.optimizers.Optimizer:
    """RMSprop(1e-4) with Keras 2's `decay=1e-6`: lr0 / (1 + decay * iterations)."""
    schedule = keras.optimizers.schedules.InverseTimeDecay(1e-4, decay_steps=1, decay_rate=1e-6)
    return keras.optimizers.RMSprop(schedule)


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A plain-Keras model and its training set-up.

    Attributes:
        name: What the baseline is, in words.
        build: `build(input_shape, classes)` returning the model.
        optimizer: Makes the optimizer it trains with.
        batch_size: The batch size it trains with.
    """

    name: str
    build: Callable[..., keras.Model]
    optimizer: Callable[[], keras.optimizers.Optimizer]
    batch_size: int


_MNIST = Baseline('Keras "Simple MNIST convnet"', keras_mnist_example, lambda: keras.optimizers.Adam(), 128)
_VGG_OPTIMIZER = lambda: keras.optimizers.AdamW(1e-4)  # noqa: E731  (the zoo's VGG recipe)
BASELINES = {
    "mnist_convnet": _MNIST,
    "edge_convnet": _MNIST,
    "lm_convnet": _MNIST,
    "cifar10_net": Baseline("Keras cifar10_cnn", keras_cifar10_example, keras_cifar10_optimizer, 32),
    "resnet9": Baseline("Keras cifar10_cnn", keras_cifar10_example, keras_cifar10_optimizer, 32),
    "vgg16": Baseline(
        "keras.applications.VGG16",
        lambda input_shape, classes: keras.applications.VGG16(weights=None, input_shape=input_shape, classes=classes),
        _VGG_OPTIMIZER, 64,
    ),
    "vgg19": Baseline(
        "keras.applications.VGG19",
        lambda input_shape, classes: keras.applications.VGG19(weights=None, input_shape=input_shape, classes=classes),
        _VGG_OPTIMIZER, 64,
    ),
    "resnet50": Baseline(
        "keras.applications.ResNet50",
        lambda input_shape, classes: keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=classes),
        lambda: keras.optimizers.AdamW(1e-3), 64,  # the zoo's ResNet-50 recipe
    ),
    "mobilenet_v2": Baseline(
        "keras.applications.MobileNetV2",
        lambda input_shape, classes: keras.applications.MobileNetV2(
            weights=None, input_shape=input_shape, classes=classes
        ),
        lambda: keras.optimizers.AdamW(1e-3), 64,  # the zoo's MobileNetV2 recipe
    ),
}
