"""Export to SavedModel and TFLite, and running the exported files.

SavedModels come from Keras' own `model.export`, with a `serve` signature
TensorFlow Serving loads. TFLite files are converted from that SavedModel
with builtin ops only (no Flex / select-TF ops), so the plain `ai_edge_litert`
interpreter runs them. Every file is written atomically: a crash never
leaves a half-written export behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import numpy as np


def _atomic_target(path: str) -> str:
    """A temporary path beside `path`, on the same file system."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=".tmp-", dir=parent)


def export_saved_model(model: keras.Model, path: str) -> str:
    """Exports `model` as a TensorFlow SavedModel directory.

    Args:
        model: A Keras model.
        path: The directory to create; an existing one is replaced.

    Returns:
        `path`.

    Example:

    >>> import tempfile, zoo
    >>> path = export_saved_model(zoo.mnist_convnet(), tempfile.mkdtemp() + "/sm")
    """
    staging = _atomic_target(path)
    try:
        target = os.path.join(staging, "saved_model")
        model.export(target, format="tf_saved_model", verbose=False)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def tflite_bytes(model: keras.Model) -> bytes:
    """Converts `model` to a float32 TFLite flatbuffer with builtin ops only.

    Raises:
        ValueError: If the model needs ops outside the TFLite builtins.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        # Keras' own litert export allows select-TF ops; the plain
        # interpreter cannot run those, so only builtins are allowed here.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return converter.convert()
        except Exception as e:
            reason = " ".join(str(e).split())[:300]
            raise ValueError(
                f"{model.name!r} does not convert to TFLite with builtin ops: {reason}"
            ) from None


def export_tflite(model: keras.Model, path: str) -> str:
    """Writes `model` as a float32 TFLite file with builtin ops only.

    Returns:
        `path`.
    """
    content = tflite_bytes(model)
    staging = _atomic_target(path)
    try:
        target = os.path.join(staging, "model.tflite")
        with open(target, "wb") as f:
            f.write(content)
        os.replace(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def run_tflite(model: str | bytes, images, num_threads: int | None = None) -> np.ndarray:
    """Runs a TFLite model, from a path or bytes, on a batch of images.

    Args:
        model: A `.tflite` path or the flatbuffer bytes.
        images: An array `(batch, height, width, channels)`.
        num_threads: Interpreter threads. Defaults to the interpreter's default.

    Returns:
        The model's output for the batch.
    """
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": model}
    interpreter = Interpreter(num_threads=num_threads, **kwargs)
    (inp,) = interpreter.get_input_details()
    images = np.asarray(images)
    interpreter.resize_tensor_input(inp["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], images.astype(inp["dtype"]))
    interpreter.invoke()
    (out,) = interpreter.get_output_details()
    return interpreter.get_tensor(out["index"])
