"""Export to SavedModel, TFLite and ONNX, with a parity report: `zoo export`.

SavedModels come from Keras' own `model.export`, with the `serving_default`
signature TensorFlow Serving loads. TFLite files are converted from that
SavedModel with builtin ops only (no Flex / select-TF ops), so the plain
`ai_edge_litert` interpreter runs them, in four kinds (`quantize`):

- `"none"`: float32.
- `"float16"`: float16 weights, float32 compute.
- `"dynamic"`: int8 weights; activations quantized on the fly.
- `"int8"`: int8 weights and activations, calibrated on real images of a
  dataset, with integer kernels only (a file the converter leaves partly
  float32 is refused, see `tflite_bytes`). Input and output are uint8: the
  zoo's models take raw [0, 255] pixels, which calibration on real images maps to
  scale 1 and zero point 0, so a camera frame goes in unchanged; the output
  is the probabilities in steps of 1/256. `zoo.predict.TFLiteRunner`,
  `run_tflite` and `zoo predict` quantize and dequantize with the tensors'
  own parameters.

ONNX files come from Keras' `model.export(format="onnx")` (tf2onnx on
TensorFlow), float32 with a dynamic batch dimension, for ONNX Runtime,
TensorRT, OpenVINO and the browser; they need the `onnx` extra
(`pip install 'keras-zoo[onnx]'`), and `zoo predict` runs them with ONNX
Runtime.

`export_model` also measures the export against the Keras model on real
labelled test images (max abs difference, top-1 agreement, accuracy of both)
and writes that report, the file sizes, the class names and whether the
outputs are probabilities or logits beside the export, as `PATH.json`.
Calibration and parity images come from `zoo.data`: by default the sample
shipped for the model's input, `mnist:sample` for 1 channel and
`cifar10:sample` for 3, resized to the input size.

Every file is written atomically: a crash never leaves a half-written export.
An export and its report are published together from one staging folder (the
old report moved away first), so a report always describes the file beside
it; `export_saved_model`, `export_tflite` and `export_onnx`, which write no
report, remove one an earlier export left.

SavedModel and TFLite are TensorFlow's formats: exporting needs TensorFlow
installed, on any Keras backend (on JAX Keras converts through jax2tf). On
PyTorch, Keras' own SavedModel export needs torch_xla and fails on the zoo's
models, so `export_model` converts there in a child process on Keras'
TensorFlow backend: a `.keras` file is the same on every backend. ONNX and
TFLite files are converted there from JAX too. tf2onnx cannot read the
XlaCallModule op of jax2tf's graphs. TFLite files converted from them keep
BatchNorm apart from the convolutions and compute shapes when called: at
batch 1 they ran 6x to 19x slower (mnist_convnet 2.12 against 0.11 ms,
cifar10_net 8.39 against 1.24 ms, float32, a 2-core Emerald Rapids Xeon),
and int8 files of batch-normalised models kept float32 ops (cifar10_net,
resnet9, mobilenet_v2). A JAX SavedModel is jax2tf's, except for models whose
test-time views shift images of a height or width unknown until called
(`zoo.layers.shifts_by_slicing`), which jax2tf cannot trace.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import keras
import numpy as np

from zoo._common import check_choice, check_positive_int, one_line
from zoo.callbacks import atomic_write, make_output_folder, output_folder
from zoo.predict import (
    OnnxRunner,
    SavedModelRunner,
    TFLiteRunner,
    class_names,
    fit_images,
    load_keras_model,
    output_kind,
    quiet_native_logs,
    report_path,
    size_bytes,
)

FORMATS = ("saved_model", "tflite", "onnx")
# What each format writes, and the suffixes of the model files the zoo knows:
# `--out` may not carry another format's suffix.
_WRITES = {"saved_model": "a SavedModel directory", "tflite": "a TFLite file", "onnx": "an ONNX file"}
_SUFFIXES = {".tflite": "tflite", ".onnx": "onnx", ".keras": None, ".h5": None}
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
# Calibration and parity data when no dataset is named, by input channels.
DEFAULT_DATASETS = {1: "mnist:sample", 3: "cifar10:sample"}
CALIBRATION_IMAGES = 500
PARITY_IMAGES = 500
# The largest difference from Keras an export of each kind is held to;
# quantized files are judged by top-1 agreement instead.
TOLERANCES = {("saved_model", "none"): 1e-5, ("tflite", "none"): 1e-4, ("onnx", "none"): 1e-4}
_BATCH = 64
# ONNX Runtime 1.18 and later run opset 17; TensorRT 8.6 and OpenVINO 2023 read it.
ONNX_OPSET = 17


def check_tensorflow(what: str = "Exporting to SavedModel or TFLite") -> None:
    """Raises one line naming the package to install where TensorFlow is not.

    Raises:
        ValueError: If TensorFlow cannot be imported.
    """
    from zoo.data import tensorflow_available

    if not tensorflow_available():
        raise ValueError(
            f"{what} needs TensorFlow, which is not installed: pip install tensorflow "
            f"(Keras' {keras.backend.backend()} backend trains and predicts without it)."
        )


# What each refusal of a direct export on another backend points to.
_ON_TENSORFLOW = "zoo.export.export_model or `zoo export`, which convert on Keras' TensorFlow backend"


def _check_backend(what: str, model: keras.Model) -> None:
    """Refuses, in one line, the direct exports Keras cannot do on PyTorch,
    or on JAX for `model` (`_views_beyond_jax2tf`)."""
    check_tensorflow()
    if keras.backend.backend() == "torch":
        raise ValueError(
            f"{what} cannot run on Keras' PyTorch backend (Keras exports SavedModels from PyTorch through "
            f"torch_xla, which fails on these models): use {_ON_TENSORFLOW}, or set KERAS_BACKEND=tensorflow."
        )
    if _views_beyond_jax2tf(model):
        raise ValueError(
            f"{what} cannot export {model.name!r} on Keras' JAX backend: its test-time views shift images whose "
            f"height or width is unknown until called (or under 5 pixels), which jax2tf cannot trace. Use "
            f"{_ON_TENSORFLOW}, build the model with a fixed input_shape, or set KERAS_BACKEND=tensorflow. "
            f"Received: input_shape={model.input_shape}"
        )


def _views_beyond_jax2tf(model: keras.Model) -> bool:
    """Whether `model` is on Keras' JAX backend and shifts test-time views by
    slicing (`zoo.layers.shifts_by_slicing`): jax2tf cannot compare the
    symbolic sizes of an input whose height or width is unknown until called,
    and its slices of a fixed one become gathers the TFLite converter
    refuses. A `.keras` file is the same on every backend, so such a model
    converts on TensorFlow's, which slices as TFLite does."""
    from zoo.layers import TestTimeViews, shifts_by_slicing

    if keras.backend.backend() != "jax":
        return False
    return any(isinstance(layer, TestTimeViews) and shifts_by_slicing(layer.mode, layer.input.shape)
               for layer in model._flatten_layers(include_self=False))


def check_out(path: str, format: str) -> str:
    """Checks that an export and its report can be written at `path`; writes nothing.

    A SavedModel replaces only a SavedModel directory, a TFLite file only a
    file: a mistyped `--out` never deletes a folder or turns a file into one.
    An empty path, a file path ending in a folder separator, a path with
    another format's suffix (`.tflite`, `.onnx`, `.keras`, `.h5`) and a
    report path (`PATH.json`) that is a directory are refused.

    Raises:
        ValueError: Naming `path`, in words.
    """
    path = os.fspath(path)
    if not path:
        raise ValueError(f"The output path is empty. Received: out={path!r}")
    separators = tuple(sep for sep in (os.sep, os.altsep, "/") if sep)
    if format != "saved_model" and path.endswith(separators):
        raise ValueError(
            f"The output path ends in a folder separator: {_WRITES[format]} needs a file name. Received: out={path!r}"
        )
    suffix = os.path.splitext(path.rstrip("/\\"))[1].lower()
    if suffix in _SUFFIXES and _SUFFIXES[suffix] != format:
        what = _WRITES.get(_SUFFIXES[suffix], "a Keras model file")
        raise ValueError(
            f"The output path ends in {suffix}, the suffix of {what}, but --format {format} writes "
            f"{_WRITES[format]}. Received: out={path!r}"
        )
    report = report_path(path)
    if os.path.isdir(report):
        raise ValueError(f"The report's path {report!r} is a directory, not a file. Received: out={path!r}")
    if os.path.isdir(path):
        if format != "saved_model":
            raise ValueError(f"The output path is a directory, not a .{format} file. Received: out={path!r}")
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"The output path is a directory that is not a SavedModel. Received: out={path!r}")
    elif os.path.exists(path) and format == "saved_model":
        raise ValueError(f"The output path is a file, not a SavedModel directory. Received: out={path!r}")
    output_folder(path, argument="out", file=True)
    return path


def _publish(path: str, write, format: str, report=None) -> dict | None:
    """Writes an export and its report together beside `path`, or neither.

    `write(target)` writes the export on a temporary path in a staging
    folder beside `path`; `report()`, called after it, gives the report,
    written in the same folder. Both are then renamed into place: the old
    report moved away first, so a crash never pairs the new export with it.
    Without `report`, an old report beside `path` (an earlier export's) is
    removed. On failure the previous export and report stay, and the
    folders made for `path` are removed.

    Returns:
        The report written, or None.
    """
    path = check_out(path, format)
    parent = os.path.dirname(os.path.abspath(path))
    made = _missing_folders(parent)
    published = False
    try:
        make_output_folder(parent, argument="out")
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
        try:
            target = os.path.join(staging, "export")
            write(target)
            content = None
            if report is not None:
                content = report()
                with open(os.path.join(staging, "report.json"), "w") as f:
                    json.dump(content, f, indent=2)
            _rename_into_place(path, staging, with_report=content is not None)
            published = True
            return content
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        if not published:
            _remove_empty(made)


def _rename_into_place(path: str, staging: str, *, with_report: bool) -> None:
    """Moves `staging/export` (and `staging/report.json`) to `path` (and its
    report path); the previous export and report go into `staging`, and come
    back if the export cannot be moved."""
    report, old_report = report_path(path), os.path.join(staging, "previous.json")
    had_report = os.path.lexists(report)
    if had_report:
        os.replace(report, old_report)
    previous, had_folder = os.path.join(staging, "previous"), os.path.isdir(path)
    try:
        if had_folder:
            os.replace(path, previous)
        os.replace(os.path.join(staging, "export"), path)
    except BaseException:
        with contextlib.suppress(OSError):
            if had_folder and not os.path.exists(path):
                os.replace(previous, path)
            if had_report:
                os.replace(old_report, report)
        raise
    if with_report:
        os.replace(os.path.join(staging, "report.json"), report)


def _missing_folders(folder: str) -> list[str]:
    """The folders that do not exist yet from `folder` up, deepest first."""
    missing = []
    while not os.path.exists(folder):
        missing.append(folder)
        up = os.path.dirname(folder)
        if up == folder:
            break
        folder = up
    return missing


def _remove_empty(folders: list[str]) -> None:
    """Removes the folders an export made, deepest first, while they are empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            break


def export_saved_model(model: keras.Model, path: str) -> str:
    """Exports `model` as a TensorFlow SavedModel directory.

    No report is written (`export_model` writes one); a report an earlier
    export left beside `path` is removed.

    Args:
        model: A Keras model.
        path: The directory to create; an existing SavedModel is replaced.

    Returns:
        `path`.

    Examples:

        >>> import tempfile, zoo
        >>> path = export_saved_model(zoo.mnist_convnet(), tempfile.mkdtemp() + "/sm")
    """
    _check_backend("export_saved_model", model)
    _publish(path, lambda target: model.export(target, format="tf_saved_model", verbose=False), "saved_model")
    return path


@contextlib.contextmanager
def _converter_input(model: keras.Model):
    """A temporary SavedModel of `model` for the TFLite and ONNX converters.

    Leung-Malik banks filter densely there: a small, quantizable kernel, and
    no FFT ops for either converter.
    """
    from zoo.layers import with_dense_filter_banks

    with tempfile.TemporaryDirectory() as tmp:
        with_dense_filter_banks(model).export(tmp, format="tf_saved_model", verbose=False)
        yield tmp


def tflite_bytes(model: keras.Model, quantize: str = "none", calibration=None) -> bytes:
    """Converts `model` to a TFLite flatbuffer with builtin ops only.

    On Keras' JAX backend the file is converted from jax2tf's graph, which
    keeps BatchNorm apart from the convolutions and computes shapes when
    called: it runs several times slower (see the module docstring), and
    int8 files of batch-normalised models do not convert. `export_model` and
    `zoo export` convert TFLite files on TensorFlow's backend instead.

    Args:
        model: A Keras model.
        quantize: `"none"`, `"float16"`, `"dynamic"` or `"int8"` (see the
            module docstring). Defaults to `"none"`.
        calibration: For `"int8"`: representative raw-pixel images
            `(n, height, width, channels)`, e.g. 500 training images.

    Returns:
        The flatbuffer.

    Raises:
        ValueError: For bad arguments, or if the model needs ops outside the
            TFLite builtins (or, for int8, outside the integer builtins).

    Examples:

        >>> import zoo
        >>> len(tflite_bytes(zoo.mnist_convnet(), "dynamic")) < 150_000
        True
    """
    _check_backend("tflite_bytes", model)
    import tensorflow as tf

    check_choice("quantize", quantize, QUANTIZATIONS)
    if quantize == "int8" and (calibration is None or len(calibration) == 0):
        raise ValueError("int8 quantization needs calibration images. Received: calibration=None")
    with _converter_input(model) as saved_model:
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        # Keras' own litert export allows select-TF ops; the plain
        # interpreter cannot run those, so only builtins are allowed here.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":
            images = np.asarray(calibration, np.float32)
            converter.representative_dataset = lambda: ([images[i : i + 1]] for i in range(len(images)))
            # Integer kernels only: an op left in float fails the conversion
            # instead of shipping a model that is not fully int8.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        try:
            with quiet_native_logs():
                flatbuffer = converter.convert()
        except Exception as e:  # the converter raises many types
            raise ValueError(
                f"{model.name!r} does not convert to TFLite ({quantize}) with builtin ops: {one_line(e)}"
            ) from None
    # The quantizer can leave ops in float32 between DEQUANTIZE and QUANTIZE
    # though only integer kernels were allowed (it did, now and then, with
    # the test-time views built from pieces: `zoo.layers._shifted`): such a
    # file is not fully int8.
    left = float_tensors(flatbuffer) if quantize == "int8" else []
    if left:
        where = f"; on Keras' JAX backend, use {_ON_TENSORFLOW}" if keras.backend.backend() == "jax" else ""
        raise ValueError(
            f"{model.name!r} does not convert to a fully int8 TFLite file: the converter left {len(left)} float32 "
            f"tensors, e.g. {left[0]!r}{where}"
        )
    return flatbuffer


def float_tensors(flatbuffer: bytes) -> list[str]:
    """The names of a TFLite model's float32 tensors: none in a fully int8 one.

    Examples:

        >>> import zoo
        >>> len(float_tensors(tflite_bytes(zoo.mnist_convnet()))) > 0
        True
    """
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=flatbuffer).get_tensor_details()
    return [t["name"] for t in details if np.dtype(t["dtype"]) == np.float32]


def export_tflite(model: keras.Model, path: str, quantize: str = "none", calibration=None) -> str:
    """Writes `model` as a TFLite file with builtin ops only; see `tflite_bytes`.

    No report is written (`export_model` writes one); a report an earlier
    export left beside `path` is removed.

    Returns:
        `path`.
    """
    check_out(path, "tflite")
    content = tflite_bytes(model, quantize, calibration)
    _publish(path, lambda target: _write_bytes(target, content), "tflite")
    return path


def check_onnx() -> None:
    """Raises one line naming the extra to install where ONNX export cannot run.

    Raises:
        ValueError: If tf2onnx, onnx or onnxruntime is missing.
    """
    from zoo.predict import _onnx_module

    for name in ("tf2onnx", "onnx", "onnxruntime"):
        _onnx_module(name, "Exporting to ONNX")


def _write_onnx(model: keras.Model, target: str) -> None:
    """Converts through a SavedModel, frozen: Keras' direct `format="onnx"`
    leaves the constants of layers such as `Normalization` as extra graph
    inputs, which ONNX Runtime then demands."""
    check_onnx()
    import logging

    import tf2onnx
    from tf2onnx import tf_loader

    try:  # Keras' own numpy 2 fixes for tf2onnx, which its ONNX export applies
        from keras.src.export.tf2onnx_lib import patch_tf2onnx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # its np.object probe
            patch_tf2onnx()
    except ImportError:
        pass
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "tensorflow")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with quiet_native_logs(), _converter_input(model) as saved_model:
            graph_def, inputs, outputs = tf_loader.from_saved_model(saved_model, None, None)[:3]
            tf2onnx.convert.from_graph_def(
                graph_def, input_names=inputs, output_names=outputs, opset=ONNX_OPSET, output_path=target
            )
    except Exception as e:  # tf2onnx raises many types
        raise ValueError(f"{model.name!r} does not convert to ONNX: {one_line(e)}") from None
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_onnx(model: keras.Model, path: str) -> str:
    """Writes `model` as a float32 ONNX file with a dynamic batch dimension.

    No report is written (`export_model` writes one); a report an earlier
    export left beside `path` is removed.

    Args:
        model: A Keras model.
        path: The `.onnx` file to write.

    Returns:
        `path`.

    Raises:
        ValueError: If the onnx extra is not installed, or the model does not
            convert.
    """
    _check_backend("export_onnx", model)
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"export_onnx runs on Keras' TensorFlow backend only (tf2onnx cannot read jax2tf's XlaCallModule op): "
            f"use {_ON_TENSORFLOW}. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    _publish(path, lambda target: _write_onnx(model, target), "onnx")
    return path


def _write_bytes(path: str, content: bytes) -> None:
    with open(path, "wb") as f:
        f.write(content)


def run_tflite(model: str | bytes, images, num_threads: int | None = None) -> np.ndarray:
    """Runs a TFLite model, from a path or bytes, on a batch of raw pixels.

    Args:
        model: A `.tflite` path or the flatbuffer bytes.
        images: An array `(batch, height, width, channels)`.
        num_threads: Interpreter threads. Defaults to the interpreter's default.

    Returns:
        The model's output for the batch, dequantized to float.
    """
    return TFLiteRunner(model, num_threads)(images)


def default_dataset(input_shape) -> str:
    """The shipped sample that calibrates and checks a model of this input shape.

    Examples:

        >>> default_dataset((28, 28, 1)), default_dataset((224, 224, 3))
        ('mnist:sample', 'cifar10:sample')
    """
    channels = input_shape[-1]
    if channels not in DEFAULT_DATASETS:
        raise ValueError(
            f"No default dataset for {channels}-channel inputs: pass --dataset. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return DEFAULT_DATASETS[channels]


def dataset_images(dataset: str, data_dir, shape, split: str, count: int) -> tuple:
    """The first `count` images of a split, fitted to a model's input shape.

    Args:
        dataset: A `zoo.data.load_dataset` name.
        data_dir: Its data directory, or None.
        shape: The model's `(height, width, channels)`.
        split: `"train"` (shuffled with a fixed seed) or `"test"` (in order).
        count: How many images, at most.

    Returns:
        `(images, labels, class_names)`: uint8 images fitted to `shape`,
        integer labels.
    """
    from zoo.data import is_folder, load_dataset

    # Only folders are resized while reading; arrays are resized after the
    # cut, never a whole training set.
    size = tuple(shape[:2]) if is_folder(dataset) and None not in shape[:2] else None
    data = load_dataset(
        dataset, data_dir, batch_size=256, validation_split=0.0, seed=0, image_size=size, channels=shape[-1]
    )
    images, labels, total = [], [], 0
    for x, y in getattr(data, split):
        images.append(np.asarray(x)[: count - total])
        labels.append(np.asarray(y)[: count - total])
        total += len(images[-1])
        if total >= count:
            break
    if not total:
        raise ValueError(f"The {split} split of {dataset!r} holds no images. Received: dataset={dataset!r}")
    return fit_images(np.concatenate(images), shape), np.concatenate(labels), data.class_names


def _in_batches(run, images) -> np.ndarray:
    return np.concatenate([
        np.asarray(run(images[i : i + _BATCH].astype(np.float32))) for i in range(0, len(images), _BATCH)
    ])


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from zoo.training import _versions as library_versions

    versions = {**library_versions(), "ai-edge-litert": version("ai-edge-litert")}
    for name in ("tf2onnx", "onnx", "onnxruntime"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:  # the onnx extra is optional
            pass
    return versions


def top1_changes(reference, exported, labels) -> dict:
    """Of the images labelled `labels`, how many the export classes wrongly
    where the reference (the Keras model) is right (`lost`), and rightly
    where it is wrong (`gained`): the images behind a top-1 difference.

    Args:
        reference: The reference's class for each image.
        exported: The export's class for each image.
        labels: The true class of each image.

    Returns:
        `{"lost": int, "gained": int}`.

    Examples:

        >>> top1_changes(np.array([0, 1, 2, 3]), np.array([0, 2, 2, 1]), np.array([0, 1, 1, 1]))
        {'lost': 1, 'gained': 1}
    """
    right, exported_right = reference == labels, exported == labels
    return {"lost": int(np.sum(right & ~exported_right)), "gained": int(np.sum(~right & exported_right))}


def drop_interval(lost: int, gained: int, images: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % interval of a top-1 drop measured on the same images by two
    models: `(lost - gained) / images`, plus or minus `z` standard errors of a
    paired difference, `sqrt(lost + gained - (lost - gained)**2 / images) / images`.

    On a few hundred images a drop of a few images cannot be told from none:
    3 images more lost than gained on 423 is a drop of 0.71 points, with an
    interval of about -0.5 to +1.9 points. Where the two are right on the
    same images (none lost or gained), the standard error is 0 and the rule
    of three bounds the share of images that could differ instead:
    `(-3 / images, 3 / images)`.

    Args:
        lost: Images the export gets wrong where the reference is right.
        gained: Images the export gets right where the reference is wrong.
        images: Images both were scored on.
        z: Standard errors each side; 1.96 for 95 %.

    Returns:
        `(low, high)`, as fractions.

    Examples:

        >>> [round(v, 4) for v in drop_interval(5, 2, 423)]
        [-0.0051, 0.0193]
        >>> drop_interval(0, 0, 500)
        (-0.006, 0.006)
    """
    if lost == gained == 0:
        return -3 / images, 3 / images
    drop = (lost - gained) / images
    error = ((lost + gained) - (lost - gained) ** 2 / images) ** 0.5 / images
    return drop - z * error, drop + z * error


def _parity(expected, got, labels, *, labelled: bool) -> dict:
    parity = {"max_abs_diff": float(np.max(np.abs(got - expected)))}
    if expected.ndim == 2:
        keras_top1, exported_top1 = expected.argmax(-1), got.argmax(-1)
        parity["top1_agreement"] = float(np.mean(keras_top1 == exported_top1))
        if labelled:
            parity["keras_top1"] = float(np.mean(keras_top1 == labels))
            parity["exported_top1"] = float(np.mean(exported_top1 == labels))
            changes = top1_changes(keras_top1, exported_top1, labels)
            low, high = drop_interval(changes["lost"], changes["gained"], len(labels))
            parity.update(top1_lost=changes["lost"], top1_gained=changes["gained"],
                          top1_drop_interval=[round(low, 4), round(high, 4)])
    return parity


def export_model(
    model: keras.Model | str,
    path: str,
    *,
    format: str,
    quantize: str = "none",
    dataset: str | None = None,
    data_dir=None,
    calibration_images: int = CALIBRATION_IMAGES,
    parity_images: int = PARITY_IMAGES,
    classes: list | None = None,
) -> dict:
    """Exports a model, checks it against Keras on real images, writes the report.

    Args:
        model: A `keras.Model`, or a `.keras` file (loaded in safe mode; class
            names are read from the `summary.json` of `zoo train` beside it).
        path: The SavedModel directory, `.tflite` or `.onnx` file to write.
        format: `"saved_model"`, `"tflite"` or `"onnx"`.
        quantize: For TFLite: `"none"`, `"float16"`, `"dynamic"` or `"int8"`.
            Defaults to `"none"`.
        dataset: A `zoo.data.load_dataset` name: int8 calibration images from
            its training split, parity images from its test split. Defaults to
            `default_dataset(input_shape)`.
        data_dir: The dataset's data directory; only with `dataset`.
            Defaults to None.
        calibration_images: Images to calibrate int8 on. Defaults to 500.
        parity_images: Test images to compare on. Defaults to 500.
        classes: Class names to store in the report. Defaults to those found
            beside a `.keras` file, else None.

    Returns:
        The report, also written to `PATH.json`, published with the export
        (see `_publish`): format, quantization, `file` (the export's name),
        `outputs` (`"probabilities"` or `"logits"`, from the model's last
        activation, see `zoo.predict.output_kind`), file sizes, calibration
        and parity data, `parity` (`max_abs_diff`, `top1_agreement` and,
        when the dataset's labels fit the model, `keras_top1`,
        `exported_top1`, the images behind their difference, `top1_lost`
        and `top1_gained` (see `top1_changes`), and the 95 % interval of the
        drop, `top1_drop_interval` (see `drop_interval`)), `within_tolerance`,
        classes.

    Raises:
        ValueError: For bad arguments, untrusted or corrupt model files, or a
            model that does not convert.
        FileNotFoundError: For a missing model file or data.

    Examples:

        >>> import tempfile, zoo
        >>> report = export_model(zoo.mnist_convnet(), tempfile.mkdtemp() + "/m.tflite",
        ...                       format="tflite", parity_images=64)
        >>> report["parity"]["max_abs_diff"] < 1e-4
        True
    """
    check_choice("format", format, FORMATS)
    check_choice("quantize", quantize, QUANTIZATIONS)
    if format != "tflite" and quantize != "none":
        raise ValueError(
            f"Quantization applies to TFLite files only: use --format tflite. Received: quantize={quantize!r}"
        )
    if data_dir is not None and dataset is None:
        raise ValueError(
            f"A data directory needs the dataset it holds: pass --dataset too (e.g. folder). Received: "
            f"data_dir={os.fspath(data_dir)!r}"
        )
    check_positive_int("calibration_images", calibration_images)
    check_positive_int("parity_images", parity_images)
    if not isinstance(model, keras.Model) and os.path.abspath(os.fspath(model)) == os.path.abspath(os.fspath(path)):
        raise ValueError(f"The export would overwrite its source. Received: out={os.fspath(path)!r}")
    path = check_out(path, format)
    check_tensorflow()
    if format == "onnx":
        check_onnx()
    # JAX converts ONNX and TFLite files in the child process too (see the
    # module docstring); its SavedModels are jax2tf's.
    backend = keras.backend.backend()
    on_tensorflow = backend == "torch" or (backend == "jax" and format != "saved_model")
    source = None
    if not on_tensorflow and not isinstance(model, keras.Model):
        source = os.fspath(model)
        model = load_keras_model(source)
        classes = classes or class_names(source)
    if on_tensorflow or _views_beyond_jax2tf(model):
        return _export_on_tensorflow(
            model if source is None else source, path, format=format, quantize=quantize, dataset=dataset,
            data_dir=data_dir, calibration_images=calibration_images, parity_images=parity_images, classes=classes,
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"Expected a model with one input and one output. Received: model={model.name!r}")
    shape = tuple(model.input_shape[1:])
    dataset = dataset or default_dataset(shape)
    x, y, names = dataset_images(dataset, data_dir, shape, "test", parity_images)
    calibration = None
    if quantize == "int8":
        calibration = dataset_images(dataset, data_dir, shape, "train", calibration_images)[0]
    expected = _in_batches(model.predict_on_batch, x)
    found = {}

    def write(target):
        if format == "saved_model":
            with quiet_native_logs():
                model.export(target, format="tf_saved_model", verbose=False)
            runner = SavedModelRunner(target)
            found["input_dtype"] = runner.spec.dtype.name
        elif format == "onnx":
            _write_onnx(model, target)
            runner = OnnxRunner(target)
            found["input_dtype"] = "float32"
            found["batch"] = runner.session.get_inputs()[0].shape[0]
        else:
            _write_bytes(target, tflite_bytes(model, quantize, calibration))
            runner = TFLiteRunner(target)
            found["input_dtype"] = np.dtype(runner.input["dtype"]).name
        found["got"], found["size"] = _in_batches(runner, x), size_bytes(target)

    def report() -> dict:
        labelled = expected.ndim == 2 and expected.shape[1] == len(names) and classes in (None, names)
        parity = _parity(expected, found["got"], y, labelled=labelled)
        tolerance = TOLERANCES.get((format, quantize))
        return {
            "format": format,
            "quantization": quantize if format == "tflite" else None,
            "file": os.path.basename(path.rstrip("/\\")),
            "source": source,
            "model": model.name,
            "input": {"shape": list(shape), "dtype": found["input_dtype"], "pixels": "raw, [0, 255]",
                      **({"batch": found["batch"] if isinstance(found["batch"], int) else "dynamic"}
                         if "batch" in found else {})},
            "outputs": output_kind(model),
            "classes": classes,
            "sizes": {"keras_bytes": size_bytes(source) if source else None, "exported_bytes": found["size"]},
            "calibration": {"dataset": dataset, "split": "train", "images": len(calibration)} if calibration is not None
            else None,
            "parity": {"dataset": dataset, "split": "test", "images": len(x), **parity},
            "tolerance": tolerance,
            "within_tolerance": None if tolerance is None else parity["max_abs_diff"] <= tolerance,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "backend": keras.backend.backend(),
            "versions": _versions(),
        }

    return _publish(path, write, format, report)


# Runs `export_model` on Keras' TensorFlow backend for a PyTorch process;
# bad input comes back as the same exception type and message.
_CHILD = """
import json, sys
from zoo import export
try:
    export.export_model(**json.loads(sys.argv[1]))
except (ValueError, OSError) as e:
    with open(sys.argv[2], "w") as f:
        json.dump({"type": "FileNotFoundError" if isinstance(e, FileNotFoundError) else
                   "ValueError" if isinstance(e, ValueError) else "OSError", "message": str(e)}, f)
    sys.exit(1)
"""


def _export_on_tensorflow(model, path: str, **kwargs) -> dict:
    """`export_model` in a child process on Keras' TensorFlow backend (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = None
        if isinstance(model, keras.Model):
            keras_file = os.path.join(tmp, "model.keras")
            model.save(keras_file)
        else:
            keras_file = source = os.fspath(model)
        error_file = os.path.join(tmp, "error.json")
        arguments = json.dumps({"model": keras_file, "path": os.fspath(path), **kwargs})
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        done = subprocess.run([sys.executable, "-c", _CHILD, arguments, error_file], env=env,
                              capture_output=True, text=True, check=False)
        if os.path.exists(error_file):
            with open(error_file) as f:
                error = json.load(f)
            raise {"FileNotFoundError": FileNotFoundError, "OSError": OSError}.get(error["type"], ValueError)(
                error["message"]
            )
        if done.returncode != 0:
            last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no message")
            raise RuntimeError(f"The export on Keras' TensorFlow backend failed (exit status "
                               f"{done.returncode}): {last.strip()}")
    with open(report_path(path)) as f:
        report = json.load(f)
    report["backend"] = f"tensorflow (converted for a process on Keras' {keras.backend.backend()} backend)"
    if source is None:  # an in-memory model: the temporary file is no source
        report["source"], report["sizes"]["keras_bytes"] = None, None
    atomic_write(report_path(path), lambda f: json.dump(report, f, indent=2))
    return report
