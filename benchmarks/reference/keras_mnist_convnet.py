"""The Keras "Simple MNIST convnet" example, the reference of the MNIST target.

https://keras.io/examples/vision/mnist_convnet/ as published: Conv32-Pool-
Conv64-Pool-Flatten-Dropout(0.5)-Dense(10), Adam, batch 128, 15 epochs,
validation_split 0.1. The only change: the data comes from the official IDX
files under DATA_DIR (keras.datasets would download the full set).

    python benchmarks/reference/keras_mnist_convnet.py ../shared/data
"""

import sys
import time

start = time.perf_counter()

import keras  # noqa: E402

from zoo.baselines import keras_mnist_example  # noqa: E402
from zoo.data import read_raw  # noqa: E402

DATA_DIR = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
num_classes = 10
input_shape = (28, 28, 1)

(x_train, y_train), (x_test, y_test), _ = read_raw("mnist", DATA_DIR)
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras_mnist_example(input_shape, num_classes)
batch_size = 128
epochs = 15
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=2)
score = model.evaluate(x_test, y_test, verbose=0)
print(f"reference mnist_convnet: test accuracy {score[1]:.4f} test loss {score[0]:.4f} "
      f"on {len(x_test)} images; {time.perf_counter() - start:.1f} s")
