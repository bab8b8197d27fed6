"""
Title: Search mnist_convnet's hyperparameters with keras-tuner
Author: keras-zoo
Date created: 2026/12/02
Last modified: 2026/12/02
Description: A keras-tuner random search over widths, dropout and learning rate, then the best model.
"""

"""shell
python recipes/tune_mnist.py --data-dir ../shared/data   # 10 trials on the official MNIST files
python recipes/tune_mnist.py --quick                     # 2 one-epoch trials on the shipped sample
"""

"""
## Setup
"""

# Arguments first: a bad flag is answered before Keras and TensorFlow load.
import argparse
import os

MODEL = "mnist_convnet"
TRIALS = 10
OUT = "runs/recipes/tune_mnist"

parser = argparse.ArgumentParser(description="Search mnist_convnet's hyperparameters.")
parser.add_argument("--data-dir", help="a folder with the official MNIST files (default: the shipped sample)")
parser.add_argument("--quick", action="store_true", help="2 one-epoch trials on the shipped sample")
args = parser.parse_args()
if args.data_dir and not os.path.isdir(args.data_dir):
    parser.error(f"--data-dir: no such folder: {args.data_dir!r}")

import keras

from zoo import tuning

dataset = "mnist" if args.data_dir and not args.quick else "mnist:sample"

"""
## Search

`zoo.hypermodel(MODEL)` is the search space (`docs/tuning.md`); `tuning.tune`
runs keras-tuner on it, resumably, and keeps the best model.
"""

result = tuning.tune(MODEL, dataset=dataset, data_dir=args.data_dir, tuner="random",
                     max_trials=2 if args.quick else TRIALS, epochs=1 if args.quick else None,
                     seed=0, out=OUT, verbose=0)
print(f"best of {result['trials']} trials: {result['best_score']:.2%} validation top-1 with {result['hyperparameters']}")

"""
## The best model
"""

best = keras.saving.load_model(f"{OUT}/best.keras")
print(f"best.keras: {best.count_params():,} parameters")
