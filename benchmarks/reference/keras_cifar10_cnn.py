"""The classic Keras cifar10_cnn example, the reference of the CIFAR-10 target.

keras/examples/cifar10_cnn.py (Keras 2): Conv32x2-Pool-Dropout-Conv64x2-
Pool-Dropout-Dense512-Dropout-Dense10, RMSprop(1e-4, decay=1e-6), batch 32,
50 epochs, width/height shifts of 0.1 and horizontal flips, validation on the
test set every epoch. Ported to Keras 3 with the smallest changes:
ImageDataGenerator is gone, so the same shifts and flips are Keras
preprocessing layers on the training pipeline; RMSprop's legacy `decay` is the
InverseTimeDecay schedule it stood for; the data come from the official
python pickles under DATA_DIR.

    python benchmarks/reference/keras_cifar10_cnn.py ../shared/data
"""

import sys
import time

start = time.perf_counter()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from zoo.baselines import keras_cifar10_example, keras_cifar10_optimizer  # noqa: E402
from zoo.data import read_raw  # noqa: E402

DATA_DIR = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
batch_size = 32
num_classes = 10
epochs = 50

(x_train, y_train), (x_test, y_test), _ = read_raw("cifar10", DATA_DIR)
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras_cifar10_example(x_train.shape[1:], num_classes)
model.compile(loss="categorical_crossentropy", optimizer=keras_cifar10_optimizer(), metrics=["accuracy"])

augment = keras.Sequential(
    [layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"), layers.RandomFlip("horizontal")]
)
train = (
    tf.data.Dataset.from_tensor_slices((x_train, y_train))
    .shuffle(len(x_train))
    .batch(batch_size)
    .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    .prefetch(tf.data.AUTOTUNE)
)
model.fit(train, epochs=epochs, validation_data=(x_test, y_test), verbose=2)
score = model.evaluate(x_test, y_test, verbose=0)
print(f"reference cifar10_cnn: test accuracy {score[1]:.4f} test loss {score[0]:.4f} "
      f"on {len(x_test)} images; {time.perf_counter() - start:.1f} s")
