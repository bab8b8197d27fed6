"""
Title: Export a model to TFLite and SavedModel, checked on real images
Author: keras-zoo
Date created: 2026/12/02
Last modified: 2026/12/02
Description: Export the shipped mnist_convnet to full-int8 TFLite and a SavedModel with a parity report.
"""

"""shell
python recipes/export_tflite.py            # the shipped weights, checked on the shipped test digits
python recipes/export_tflite.py --quick    # the same, on fewer images
"""

"""
## Setup
"""

# Arguments first: a bad flag is answered before Keras and TensorFlow load.
import argparse

MODEL, WEIGHTS = "mnist_convnet", "mnist"
OUT = "runs/recipes/export"
PARITY_IMAGES = 500

parser = argparse.ArgumentParser(description="Export mnist_convnet and check the files.")
parser.add_argument("--quick", action="store_true", help="check on 100 images")
args = parser.parse_args()

import zoo
from zoo import export, predict

parity = 100 if args.quick else PARITY_IMAGES

"""
## Export

Each export carries the model's preprocessing, so it takes raw pixels like
the Keras model. The report compares both on real test images: the largest
output difference, how often the top class agrees, and each one's accuracy.
"""

model = zoo.mnist_convnet(weights=WEIGHTS)
names = zoo.model_info(MODEL)["weights"][WEIGHTS]["class_names"]
for path, fmt, quantize in ((f"{OUT}/model_int8.tflite", "tflite", "int8"), (f"{OUT}/saved_model", "saved_model", "none")):
    report = export.export_model(model, path, format=fmt, quantize=quantize, dataset="mnist:sample",
                                 parity_images=parity, classes=names)
    p = report["parity"]
    print(f"{path}: max |diff| {p['max_abs_diff']:.4f}, top-1 agreement {p['top1_agreement']:.1%}, "
          f"top-1 {p['exported_top1']:.2%} against {p['keras_top1']:.2%} in Keras")

"""
## Predict with the exported file
"""

predictor = predict.load_predictor(f"{OUT}/model_int8.tflite")
print(f"{OUT}/model_int8.tflite: input {predictor.input_shape}, classes {predictor.classes}")
