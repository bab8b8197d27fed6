"""
Title: Train a CIFAR-10 classifier fast on a CPU
Author: keras-zoo
Date created: 2026/12/02
Last modified: 2026/12/02
Description: Train cifar10_net with its airbench-style recipe and look at its feature pyramid.
"""

"""shell
python recipes/train_cifar10.py --data-dir ../shared/data   # the official CIFAR-10 files
python recipes/train_cifar10.py --quick                     # the sample in the package, < 1 minute
"""

"""
## Setup
"""

# Arguments first: a bad flag is answered before Keras and TensorFlow load.
import argparse
import os

MODEL = "cifar10_net"
EPOCHS = None  # the recipe's: 32 epochs, whitened stem, Nesterov SGD, flips and shifts
OUT = "runs/recipes/train_cifar10"

parser = argparse.ArgumentParser(description="Train cifar10_net on CIFAR-10.")
parser.add_argument("--data-dir", help="a folder with the official CIFAR-10 files (default: the shipped sample)")
parser.add_argument("--quick", action="store_true", help="the shipped sample, 2 epochs")
args = parser.parse_args()
if args.data_dir and not os.path.isdir(args.data_dir):
    parser.error(f"--data-dir: no such folder: {args.data_dir!r}")

import keras

import zoo
from zoo import data, training

dataset = "cifar10" if args.data_dir and not args.quick else "cifar10:sample"
epochs = 2 if args.quick else EPOCHS

"""
## Train

The recipe computes a patch-whitening filter bank from the training images
for the stem and freezes it; the saved model averages each image with its
mirror image at inference.
"""

summary = training.train(MODEL, dataset=dataset, data_dir=args.data_dir, epochs=epochs, out=OUT, verbose=0)
print(f"{MODEL}: {summary['test_accuracy']:.2%} top-1 on {summary['records']['test']:,} test images "
      f"in {summary['train_seconds']:.0f} s on {summary['device']['description']}")

"""
## The feature pyramid

`zoo.feature_extractor` returns the map at the end of each stage of any zoo
model, this trained one included, for detection heads or feature reuse.
"""

model = keras.saving.load_model(f"{OUT}/model.keras")
features = zoo.feature_extractor(model)
(_, _), (x_test, _), _ = data.read_sample("cifar10:sample")
for info, fmap in zip(zoo.model_info(MODEL)["feature_info"], features(x_test[:2].astype("float32"))):
    print(f"stage {info['index']} {info['layer']}: {tuple(fmap.shape)}")
