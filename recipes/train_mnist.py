"""
Title: Train a digit classifier on MNIST
Author: keras-zoo
Date created: 2026/12/02
Last modified: 2026/12/02
Description: Train mnist_convnet with the zoo's recipe, then classify held-out digits by name.
"""

"""shell
python recipes/train_mnist.py --data-dir ../shared/data   # the official MNIST files
python recipes/train_mnist.py --quick                     # the sample in the package, < 1 minute
"""

"""
## Setup
"""

# Arguments first: a bad flag is answered before Keras and TensorFlow load.
import argparse
import os

MODEL = "mnist_convnet"
EPOCHS = None  # the recipe's: 5 epochs of 64, AdamW, label smoothing, light affine warps
OUT = "runs/recipes/train_mnist"

parser = argparse.ArgumentParser(description="Train mnist_convnet on MNIST.")
parser.add_argument("--data-dir", help="a folder with the official MNIST files (default: the shipped sample)")
parser.add_argument("--quick", action="store_true", help="the shipped sample, 1 epoch")
args = parser.parse_args()
if args.data_dir and not os.path.isdir(args.data_dir):
    parser.error(f"--data-dir: no such folder: {args.data_dir!r}")

import keras
import numpy as np

import zoo
from zoo import data, training

dataset = "mnist" if args.data_dir and not args.quick else "mnist:sample"
epochs = 1 if args.quick else EPOCHS

"""
## Train

`training.train` is `zoo train`: it picks the precision for this machine,
trains with the recipe, resumes after an interruption, and writes
`model.keras`, `summary.json` and `history.csv` into `OUT`.
"""

summary = training.train(MODEL, dataset=dataset, data_dir=args.data_dir, epochs=epochs, out=OUT, verbose=0)
print(f"{MODEL}: {summary['test_accuracy']:.2%} top-1 on {summary['records']['test']:,} test images "
      f"in {summary['train_seconds']:.0f} s ({summary['precision']}: {summary['precision_reason']})")

"""
## Classify digits by name

The saved model takes raw pixels; `summary.json` holds the class names. The
shipped weights (`zoo.mnist_convnet(weights="mnist")`) do the same without
training.
"""

model = keras.saving.load_model(f"{OUT}/model.keras")
(_, _), (x_test, y_test), names = data.read_sample("mnist:sample")
probabilities = model.predict(x_test[:3].astype("float32"), verbose=0)
for label, p in zip(y_test[:3], probabilities):
    print(f"digit {names[label]}: predicted {names[int(np.argmax(p))]} ({p.max():.1%})")
shipped = zoo.mnist_convnet(weights="mnist")
print("shipped weights:", zoo.decode_predictions(shipped.predict(x_test[:1].astype("float32"), verbose=0),
                                                 weights=(MODEL, "mnist"), top=2)[0])
