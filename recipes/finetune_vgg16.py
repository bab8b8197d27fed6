"""
Title: Fine-tune VGG-16 on a folder of images
Author: keras-zoo
Date created: 2026/12/02
Last modified: 2026/12/02
Description: Two-phase transfer learning from ImageNet weights on your own labelled images.
"""

"""shell
python recipes/finetune_vgg16.py --data-dir my_photos/        # one sub-folder per class
python recipes/finetune_vgg16.py --quick                      # shipped CIFAR-10 images, < 1 minute
"""

"""
## Setup
"""

# Arguments first: a bad flag is answered before Keras and TensorFlow load.
import argparse
import os
import tempfile
from pathlib import Path

MODEL = "vgg16"
WEIGHTS = "imagenet"  # downloaded once and cached; or the path to a local .h5 file
IMAGE_SIZE = None  # the model's 224x224
OUT = "runs/recipes/finetune_vgg16"

parser = argparse.ArgumentParser(description="Fine-tune VGG-16 on an image folder.")
parser.add_argument("--data-dir", help="an image folder: one sub-folder of PNG/JPEG files per class")
parser.add_argument("--weights", default=WEIGHTS, help="imagenet or a keras.applications .h5 file")
parser.add_argument("--quick", action="store_true",
                    help="a folder of shipped CIFAR-10 images at 32x32, a random base (no download), 1+1 epochs")
args = parser.parse_args()
if args.data_dir and not os.path.isdir(args.data_dir):
    parser.error(f"--data-dir: no such folder: {args.data_dir!r}")

import numpy as np
from PIL import Image

from zoo import data, training

"""
## Prepare the data

A folder of folders, one per class, as `keras.utils.image_dataset_from_directory`
reads it. `--quick` writes one from the CIFAR-10 sample shipped in the package.
"""

folder, weights, image_size, epochs = args.data_dir, args.weights, IMAGE_SIZE, (None, None)
if args.quick:
    folder = Path(tempfile.mkdtemp()) / "images"
    (x, y), _, names = data.read_sample("cifar10:sample")
    for label in (3, 5, 6):  # cat, dog, frog
        (folder / names[label]).mkdir(parents=True)
        for i, image in enumerate(x[y == label][:24]):
            Image.fromarray(np.asarray(image)).save(folder / names[label] / f"{i}.png")
    weights, image_size, epochs = None, (32, 32), (1, 1)
elif folder is None:
    parser.error("--data-dir is required without --quick")

"""
## Fine-tune

Phase 1 trains a new head on the pooled features of the frozen base
(`vgg16(features_only=True, out_indices=[-1])`); phase 2 also trains the top
block at a tenth of the learning rate.
"""

summary = training.finetune(MODEL, data_dir=str(folder), weights=weights, image_size=image_size,
                            epochs=epochs[0], fine_epochs=epochs[1], out=OUT, verbose=0)
print(f"{MODEL}: {summary['test_accuracy']:.2%} top-1 on {summary['records']['test']} held-out images "
      f"of {summary['classes']}, phases {[p['epochs'] for p in summary['phases']]}")
