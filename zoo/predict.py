"""Running saved and exported models on images: `zoo predict`.

`load_predictor` opens any model the zoo writes, `.keras` files, SavedModel
directories and `.tflite` files alike, and returns a `Predictor` that maps raw
pixels to float outputs. `predict_files` decodes PNG, JPEG, GIF, BMP and WebP
files, converts each to the model's channels (grey <-> RGB) and input size,
and returns the top-k classes with their probabilities, `BATCH` images at a
time.

Images are decoded exactly as the training folder pipeline (`zoo.data`'s
`--dataset folder`, `keras.utils.image_dataset_from_directory`) decodes
them, with `tf.io.decode_image` and a bilinear `tf.image.resize`, so a model
sees at prediction the pixels it was trained on: 16-bit PNGs keep the high
byte of each sample, RGB becomes grey with libpng's or libjpeg's weights.
GIF, BMP and WebP files, which TensorFlow decodes to colour only, become grey
with `tf.image.rgb_to_grayscale`'s (ITU-R 601) weights, alpha dropped.

Whether a model outputs probabilities or logits is decided once per model,
never from the values of a batch (`Predictor.outputs`):

- A `.keras` file: from the layer producing the output, past reshapes and
  dropout. A softmax or sigmoid activation (a `Dense` or `Activation` layer,
  a `Softmax` layer) means probabilities, shown as they are: sigmoid outputs
  are each class's own probability and need not sum to 1. Anything else,
  no activation included, means logits, which go through a softmax.
- A SavedModel, `.tflite` or `.onnx` file: from its export report
  (`outputs`, which `zoo.export` computes from the Keras model as above),
  if the report is the file's own: it names the file and its size in bytes
  (`export_report`). Without such a report, or with one from before reports
  recorded `outputs`, from the op producing the output in the file's graph,
  past reshapes, casts and (de)quantization: a softmax or sigmoid
  (`LOGISTIC`) op means probabilities, any other op logits.

Probabilities are checked in every batch, never turned into anything else:
outputs taken as probabilities that lie outside [0, 1] (by more than
`PROBABILITY_TOLERANCE`) stop `predict_files` with a one-line error, as a
report saying so describes another model.

Untrusted files are refused rather than run: `.keras` files load with Keras'
safe mode on, so one holding Python code (a Lambda layer) fails with a
one-line error; the LiteRT interpreter verifies a `.tflite` flatbuffer before
running it. A SavedModel is a TensorFlow program: load only ones you trust.

Class names come from the export report beside an exported file
(`MODEL.json`, see `zoo.export`; only the file's own) or from the
`summary.json` that `zoo train` writes beside `model.keras`; without either,
classes are shown as indices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Sequence

import numpy as np

from zoo._common import did_you_mean, one_line

# Written beside an exported file or directory: `model.tflite.json`.
REPORT_SUFFIX = ".json"
KINDS = ("keras", "saved_model", "tflite", "onnx")
# Images decoded and run at a time by `predict_files`, as `zoo.export` checks
# parity: memory stays the same for any number of images.
BATCH = 64
OUTPUTS = ("probabilities", "logits")
# How far outputs taken as probabilities may stray outside [0, 1] (float16 and
# int8 exports round) before they are known not to be probabilities.
PROBABILITY_TOLERANCE = 1e-3
# Activations whose outputs are probabilities already, by Keras function name.
PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")
# Layers and graph ops that move values without changing them: the activation
# deciding `outputs` is looked for behind them.
_PASSING_LAYERS = ("Dropout", "Flatten", "Identity", "Reshape", "ActivityRegularization")
_PASSING_TF_OPS = ("Identity", "Reshape", "Squeeze", "Cast", "StatefulPartitionedCall", "PartitionedCall")
_PASSING_TFLITE_OPS = ("QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "CAST")


def _reason(error) -> str:
    """An error's message on one line, less a closing period: a `Received:` follows it."""
    return one_line(error).rstrip(". ")


@contextlib.contextmanager
def quiet_native_logs():
    """Holds back what TensorFlow's and LiteRT's C++ code print on stderr.

    The converter and the interpreter log notes (quantization settings, the
    XNNPACK delegate) straight to file descriptor 2, past Python's logging.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _check_tensorflow(what: str) -> None:
    """Raises one line naming the package to install where TensorFlow is not."""
    from zoo.data import tensorflow_available

    if not tensorflow_available():
        import keras

        raise ValueError(
            f"{what} needs TensorFlow, which is not installed: pip install tensorflow "
            f"(Keras' {keras.backend.backend()} backend runs .keras models without it)."
        )


def report_path(path) -> str:
    """Where the export report of an exported file or directory lives."""
    return os.fspath(path).rstrip("/\\") + REPORT_SUFFIX


def size_bytes(path) -> int:
    """The bytes of a file, or of every file under a directory (a SavedModel)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def export_report(path) -> dict:
    """The export report beside an exported file or directory, if it is the file's own.

    `zoo.export` records the export's name (`file`) and size
    (`sizes.exported_bytes`); a report naming another file or size, left by
    an earlier export or beside a file replaced since, describes another
    model and is not used.

    Returns:
        The report, or `{}` when there is none, it cannot be read, or it
        belongs to another file.
    """
    path = os.fspath(path)
    report = _read_json(report_path(path))
    sizes = report.get("sizes")
    if (
        report.get("file") != os.path.basename(path.rstrip("/\\"))
        or not isinstance(sizes, dict)
        or sizes.get("exported_bytes") != size_bytes(path)
    ):
        return {}
    return report


def load_keras_model(path):
    """Loads a `.keras` file with Keras' safe mode on, after `import zoo`.

    Args:
        path: A `.keras` file.

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is not a readable `.keras` archive (corrupt,
            truncated) or holds Python code, such as a Lambda layer.

    Examples:

        >>> import tempfile, zoo
        >>> path = tempfile.mkdtemp() + "/m.keras"
        >>> zoo.mnist_convnet().save(path)
        >>> load_keras_model(path).name
        'mnist_convnet'
    """
    import keras

    import zoo  # noqa: F401  (registers the zoo's layers with Keras)

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file. Received: model={path!r}")
    if not path.endswith(".keras"):
        raise ValueError(
            f"Expected a Keras 3 `.keras` file (legacy .h5 files are not loaded). Received: model={path!r}"
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(f"Could not load {path!r}: not a .keras archive (corrupt or truncated). Received: model={path!r}")
    try:
        return keras.saving.load_model(path)
    except Exception as e:  # Keras raises many types for a bad archive.
        if "safe_mode" in str(e):
            raise ValueError(
                f"Refusing to load {path!r}: it holds Python code (a Lambda layer or a function), "
                "which could run anything. keras-zoo loads models with Keras' safe mode on; rebuild "
                f"the model from registered layers. Received: model={path!r}"
            ) from None
        raise ValueError(f"Could not load {path!r}: {_reason(e)}. Received: model={path!r}") from None


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        x = np.clip(np.round(np.asarray(x, np.float32) / scale + zero_point), info.min, info.max)
    return np.asarray(x).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if y.dtype.kind in "iu" and scale:
        return (y.astype(np.float32) - zero_point) * np.float32(scale)
    return y


class TFLiteRunner:
    """A TFLite model that takes float pixels and returns float outputs.

    Integer inputs and outputs (full-integer files) are quantized and
    dequantized with the tensors' own scale and zero point, so float,
    float16, dynamic-range and int8 files are called alike.

    Args:
        model: A `.tflite` path or the flatbuffer bytes.
        num_threads: Interpreter threads. Defaults to the interpreter's default.

    Examples:

        >>> import numpy as np, zoo
        >>> from zoo.export import tflite_bytes
        >>> run = TFLiteRunner(tflite_bytes(zoo.mnist_convnet()))
        >>> run.input_shape, run(np.zeros((2, 28, 28, 1))).shape
        ((28, 28, 1), (2, 10))
    """

    def __init__(self, model: str | bytes, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        is_bytes = isinstance(model, bytes)
        received = f"<{len(model)} bytes>" if is_bytes else repr(os.fspath(model))
        kwargs = {"model_content": model} if is_bytes else {"model_path": os.fspath(model)}
        try:
            with quiet_native_logs():
                self.interpreter = Interpreter(num_threads=num_threads, **kwargs)
        except (ValueError, RuntimeError) as e:
            where = "" if is_bytes else f" {os.fspath(model)!r}"
            raise ValueError(f"Could not read the TFLite model{where}: {_reason(e)}. Received: model={received}") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"Expected one input and one output, the file has {len(inputs)} and {len(outputs)}. "
                             f"Received: model={received}")
        self.input, self.output = inputs[0], outputs[0]
        self.input_shape = tuple(int(s) if s > 0 else None for s in self.input["shape_signature"][1:])
        self._shape = None

    def __call__(self, images) -> np.ndarray:
        images = np.asarray(images)
        if images.shape != self._shape:
            self.interpreter.resize_tensor_input(self.input["index"], images.shape)
            with quiet_native_logs():
                self.interpreter.allocate_tensors()
            self._shape = images.shape
        self.interpreter.set_tensor(self.input["index"], _quantize(images, self.input))
        self.interpreter.invoke()
        return _dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)

    def graph_outputs(self) -> str:
        """`"probabilities"` if the op producing the output is a softmax or a sigmoid, else `"logits"`."""
        producers = {int(t): op for op in self.interpreter._get_ops_details() for t in op["outputs"]}
        op = producers.get(int(self.output["index"]))
        while op is not None and op["op_name"] in _PASSING_TFLITE_OPS:
            op = producers.get(int(op["inputs"][0]))
        return "probabilities" if op is not None and op["op_name"] in ("SOFTMAX", "LOGISTIC") else "logits"


class SavedModelRunner:
    """The `serving_default` signature of a SavedModel, on float pixels.

    Args:
        path: A SavedModel directory with one input and one output.
    """

    def __init__(self, path):
        _check_tensorflow("Running a SavedModel")
        import tensorflow as tf

        path = os.fspath(path)
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"Not a SavedModel directory (no saved_model.pb). Received: model={path!r}")
        try:
            with quiet_native_logs():
                # The loaded object owns the variables: keep it alive.
                self.loaded = tf.saved_model.load(path)
            self.function = self.loaded.signatures["serving_default"]
        except Exception as e:  # TensorFlow raises many types for a bad directory.
            raise ValueError(f"Could not load the SavedModel {path!r}: {_reason(e)}. Received: model={path!r}") from None
        inputs, outputs = self.function.structured_input_signature[1], self.function.structured_outputs
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"Expected one input and one output, {path!r} has {len(inputs)} and {len(outputs)}. "
                             f"Received: model={path!r}")
        ((self.input_name, self.spec),) = inputs.items()
        (self.output_name,) = outputs
        self.input_shape = tuple(self.spec.shape[1:])

    def __call__(self, images) -> np.ndarray:
        import tensorflow as tf

        return self.function(**{self.input_name: tf.constant(images, self.spec.dtype)})[self.output_name].numpy()

    def graph_outputs(self) -> str:
        """`"probabilities"` if the op producing the output is a softmax or a sigmoid, else `"logits"`.

        The op is followed from the signature's output through identities,
        reshapes, casts and into the function calls Keras' export nests.
        """
        graph = self.function.graph.as_graph_def()
        library = {f.signature.name: f for f in graph.library.function}
        nodes = {n.name: n for n in graph.node}
        ref = self.function.outputs[0].name  # `node:index` here, `node:output:index` in a function body
        node = None
        try:
            while True:
                name, *rest = ref.lstrip("^").split(":")
                node = nodes.get(name)
                if node is None or node.op not in _PASSING_TF_OPS:
                    break
                if node.op.endswith("PartitionedCall"):
                    body = library[node.attr["f"].func.name]
                    ref = body.ret[body.signature.output_arg[int(rest[-1]) if rest else 0].name]
                    nodes = {n.name: n for n in body.node_def}
                else:
                    ref = node.input[0]
        except (KeyError, IndexError, ValueError):  # a graph laid out otherwise: nothing known
            return "logits"
        return "probabilities" if node is not None and node.op in ("Softmax", "Sigmoid") else "logits"


class OnnxRunner:
    """Runs an ONNX file with ONNX Runtime on batches of raw pixels.

    Args:
        path: The `.onnx` file.
        num_threads: Intra-op threads. Defaults to ONNX Runtime's default.

    Raises:
        ValueError: If ONNX Runtime is not installed, or the file is not a
            model it can load.

    Examples:

        >>> import tempfile, zoo
        >>> from zoo.export import export_onnx
        >>> path = export_onnx(zoo.mnist_convnet(), tempfile.mkdtemp() + "/m.onnx")
        >>> run = OnnxRunner(path)
        >>> run.input_shape, run(np.zeros((2, 28, 28, 1))).shape
        ((28, 28, 1), (2, 10))
    """

    def __init__(self, path, num_threads: int | None = None):
        onnxruntime = _onnx_module("onnxruntime", "Running ONNX files")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.path = os.fspath(path)
        try:
            self.session = onnxruntime.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own types for a bad file
            raise ValueError(
                f"Could not load the ONNX file {self.path!r}: {_reason(e)}. Received: model={self.path!r}"
            ) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"Expected one input and one output, {self.path!r} has {len(inputs)} and "
                             f"{len(outputs)}. Received: model={self.path!r}")
        self.input = inputs[0]
        self.input_shape = tuple(s if isinstance(s, int) and s > 0 else None for s in self.input.shape[1:])

    def __call__(self, images) -> np.ndarray:
        return self.session.run(None, {self.input.name: np.asarray(images, np.float32)})[0]

    def graph_outputs(self) -> str:
        """`"probabilities"` when the graph ends in a softmax or sigmoid, else `"logits"`."""
        try:
            import onnx

            graph = onnx.load(self.path).graph
        except Exception:  # no onnx package, or a graph it cannot read: nothing known
            return "logits"
        producers = {out: node for node in graph.node for out in node.output}
        node = producers.get(graph.output[0].name)
        while node is not None and node.op_type in ("Identity", "Reshape", "Flatten"):
            node = producers.get(node.input[0])
        return "probabilities" if node is not None and node.op_type in ("Softmax", "Sigmoid") else "logits"


def _onnx_module(name: str, what: str):
    """Imports an ONNX package, or raises one line naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ValueError(
            f"{what} needs {name}, which is not installed: pip install 'keras-zoo[onnx]' "
            "(tf2onnx, onnx and onnxruntime)."
        ) from None


@dataclasses.dataclass
class Predictor:
    """A model ready to run on raw pixels.

    Attributes:
        run: Maps a float32 batch `(n, height, width, channels)` of raw pixels
            in [0, 255] to the model's float outputs.
        input_shape: `(height, width, channels)`, None for a free side.
        kind: `"keras"`, `"saved_model"`, `"tflite"` or `"onnx"`.
        outputs: `"probabilities"`, shown as they are, or `"logits"`, put
            through a softmax; decided once per model, see the module
            docstring.
        classes: A name per class, or None when unknown.
        path: The model file or directory, for messages; None when unknown.
        report: The export report `outputs` was read from, or None when
            the model itself decided them.

    Examples:

        >>> import zoo
        >>> model = zoo.mnist_convnet(classifier_activation=None)
        >>> predictor = Predictor(model.predict_on_batch, (28, 28, 1), "keras", output_kind(model))
        >>> predictor.outputs
        'logits'
    """

    run: Callable
    input_shape: tuple
    kind: str
    outputs: str
    classes: list | None = None
    path: str | None = None
    report: str | None = None

    def __post_init__(self):
        if self.outputs not in OUTPUTS:
            raise ValueError(f"`outputs` must be one of {OUTPUTS}. Received: outputs={self.outputs!r}")


def output_kind(model) -> str:
    """Whether a Keras model outputs probabilities or logits, from its last activation.

    The layer producing the output decides, looked for behind dropout,
    reshapes and linear `Activation` layers and inside nested models: a
    softmax or sigmoid activation, or a `Softmax` layer, means
    `"probabilities"`; anything else, no activation included, `"logits"`.

    Args:
        model: A `keras.Model` with one output.

    Returns:
        `"probabilities"` or `"logits"`.

    Examples:

        >>> import zoo
        >>> output_kind(zoo.mnist_convnet()), output_kind(zoo.mnist_convnet(classifier_activation=None))
        ('probabilities', 'logits')
    """
    import keras

    tensor = model.outputs[0]
    while True:
        layer, node_index, tensor_index = tensor._keras_history
        if isinstance(layer, keras.Model):  # a nested model: follow its own output
            tensor = layer.outputs[tensor_index]
            continue
        if isinstance(layer, keras.layers.Softmax):
            return "probabilities"
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        if activation in PROBABILITY_ACTIVATIONS:
            return "probabilities"
        passing = type(layer).__name__ in _PASSING_LAYERS or (
            isinstance(layer, keras.layers.Activation) and activation == "linear"
        )
        inputs = layer._inbound_nodes[node_index].input_tensors if passing else ()
        if len(inputs) != 1:
            return "logits"
        tensor = inputs[0]


def model_kind(path) -> str:
    """`"keras"`, `"saved_model"`, `"tflite"` or `"onnx"`, from the file's first bytes, then its suffix.

    A TFLite flatbuffer says what it is (`TFL3` at bytes 4 to 8), whatever
    its name; other files are known by their suffix.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        _refuse_unknown_model(path)
        raise FileNotFoundError(f"No such model file or directory. Received: model={path!r}")
    if os.path.isdir(path):
        return "saved_model"
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":  # the flatbuffer file identifier
        return "tflite"
    if path.endswith(".keras"):
        return "keras"
    if path.endswith(".onnx"):
        return "onnx"
    if path.endswith(".tflite"):
        return "tflite"
    if head[:4] == b"PK\x03\x04":
        return "keras"
    raise ValueError(
        f"Expected a .keras file, a SavedModel directory, a .tflite or an .onnx file. Received: model={path!r}"
    )


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            content = json.load(f)
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def _classes(content: dict) -> list | None:
    classes = content.get("classes")
    if isinstance(classes, list) and all(isinstance(c, str) for c in classes):
        return classes
    return None


def class_names(path) -> list | None:
    """Class names stored beside a model: its own export report (see
    `export_report`), or for a `.keras` file `zoo train`'s summary.json."""
    path = os.fspath(path)
    return _stored_classes(path, export_report(path))


def _stored_classes(path: str, report: dict) -> list | None:
    """`class_names` of the model at `path`, whose `export_report` is `report`."""
    classes = _classes(report)
    if classes is None and path.endswith(".keras"):
        classes = _classes(_read_json(os.path.join(os.path.dirname(os.path.abspath(path)), "summary.json")))
    return classes


def shipped_weights(spec) -> tuple[str, str] | None:
    """`(model, tag)` when `spec` names a weight set as `MODEL:TAG`, such as `mnist_convnet:mnist`."""
    from zoo.registry import list_models

    if not isinstance(spec, str) or spec.count(":") != 1 or os.path.exists(spec):
        return None
    name, tag = spec.split(":")
    return (name, tag) if name in list_models() else None


def _refuse_unknown_model(spec: str) -> None:
    """Raises for a `MODEL:TAG` whose model the zoo lacks (`mnist_convnt:mnist`),
    naming close models, as `zoo train` does; returns for anything else."""
    if not re.fullmatch(r"[A-Za-z_]\w*:\w+", spec):
        return
    from zoo.registry import list_models

    name, tag = spec.split(":")
    models = list_models()
    if name in models:
        return
    hint = did_you_mean(name, models, shown=lambda m: repr(f"{m}:{tag}"))
    raise ValueError(
        f"Unknown model in MODEL:TAG, and no such model file.{hint} Models: {', '.join(models)} "
        f"(`zoo list --pretrained` lists those with weight sets). Received: model={spec!r}"
    )


def load_predictor(path) -> Predictor:
    """Opens a model to run on pixels: a `.keras` file, SavedModel directory,
    `.tflite` file, or a zoo model with a weight set, `MODEL:TAG`.

    Args:
        path: The model. `MODEL:TAG` (`mnist_convnet:mnist`) builds it
            with those weights (`zoo.create_model(MODEL, weights=TAG)`); its
            class names come from the weight set's record, as
            `zoo.decode_predictions` gives them.

    Returns:
        A `Predictor`; its `outputs` come from the `.keras` model's last
        activation, or from an export's own report, else its graph (see the
        module docstring).

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is corrupt, truncated or holds code, or the
            model does not take `(height, width, channels)` images of 1 or 3
            channels with one input and one output.

    Examples:

        >>> import tempfile, zoo
        >>> path = tempfile.mkdtemp() + "/m.keras"
        >>> zoo.mnist_convnet(classifier_activation=None).save(path)
        >>> load_predictor(path).outputs
        'logits'
    """
    weights = shipped_weights(path)
    if weights is not None:
        from zoo.registry import create_model
        from zoo.weights import class_names as weight_class_names

        name, tag = weights
        model = create_model(name, weights=tag)
        shape = _image_shape(tuple(model.input_shape[1:]))
        return Predictor(run=model.predict_on_batch, input_shape=shape, kind="keras",
                         outputs=output_kind(model), classes=weight_class_names(name, tag), path=path)
    path = os.fspath(path)
    kind = model_kind(path)
    if kind == "keras":
        model = load_keras_model(path)
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(f"Expected one input and one output, the model has {len(model.inputs)} and "
                             f"{len(model.outputs)}. Received: model={path!r}")
        run, shape, outputs = model.predict_on_batch, tuple(model.input_shape[1:]), output_kind(model)
    else:
        runners = {"saved_model": SavedModelRunner, "tflite": TFLiteRunner, "onnx": OnnxRunner}
        run = runners[kind](path)
        shape = run.input_shape
    # Read once (a SavedModel's size is a walk of its directory): outputs and classes.
    report = export_report(path)
    read_from = None
    if kind != "keras":
        outputs = report.get("outputs")
        read_from = report_path(path) if outputs in OUTPUTS else None
        if outputs not in OUTPUTS:  # no report of this file, or one from before reports said
            outputs = run.graph_outputs()
    return Predictor(run=run, input_shape=_image_shape(shape), kind=kind, outputs=outputs,
                     classes=_stored_classes(path, report), path=path, report=read_from)


def _image_shape(shape) -> tuple:
    """`(height, width, channels)` of a model that images can be fitted to: 1 or 3 channels."""
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(
            f"The model does not take images: predicting on image files expects (height, width, channels) "
            f"images. Received: input_shape={shape}"
        )
    height, width, channels = shape
    if channels not in (1, 3):
        raise ValueError(f"Images fit 1- or 3-channel models only. Received: input_shape={shape}")
    return height, width, channels


def _fit(image, shape):
    """A PIL image converted to the model's channels and size, as uint8 `(h, w, c)`."""
    from PIL import Image

    height, width, channels = _image_shape(shape)
    image = image.convert("L" if channels == 1 else "RGB")
    if height and width and image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, np.uint8).reshape(image.height, image.width, channels)


def fit_images(images: np.ndarray, shape: Sequence) -> np.ndarray:
    """Converts a uint8 batch `(n, h, w, c)` to the model's channels and size.

    Grey becomes RGB by repeating it, RGB becomes grey by ITU-R 601 luma
    (as PIL does); sides are resized bilinearly.

    Examples:

        >>> fit_images(np.zeros((2, 28, 28, 1), "uint8"), (32, 32, 3)).shape
        (2, 32, 32, 3)
    """
    from PIL import Image

    images = np.asarray(images, np.uint8)
    if all(want in (None, got) for want, got in zip(shape, images.shape[1:])):
        return images
    return np.stack([_fit(Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x), shape) for x in images])


def read_image(path, shape: Sequence) -> np.ndarray:
    """Decodes an image file (PNG, JPEG, GIF, BMP, WebP) fitted to the model's input.

    The pixels are those the training folder pipeline gives for the file
    (`keras.utils.image_dataset_from_directory`, as `zoo.data` reads it),
    by the same decoder (`zoo.data.decode_image`): `tf.io.decode_image` to
    the model's channels, a bilinear `tf.image.resize` to its size, rounded
    to uint8. A 16-bit PNG keeps the high byte of each sample. GIF, BMP and
    WebP files (and CMYK JPEGs), which TensorFlow decodes to colour only,
    become grey for a 1-channel model through `tf.image.rgb_to_grayscale`,
    alpha dropped (and a WebP file's alpha for a 3-channel model too; see
    `zoo.data.decoded_via_rgb`). The header is checked first against PIL's
    `Image.MAX_IMAGE_PIXELS`, so a decompression bomb is never decoded.

    Args:
        path: The image file.
        shape: The model's `(height, width, channels)`, 1 or 3 channels; a
            None side keeps the image's own size.

    Returns:
        uint8 `(height, width, channels)`.

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is not an image TensorFlow can decode, or is
            larger than `Image.MAX_IMAGE_PIXELS`.

    Examples:

        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> path = tempfile.mkdtemp() + "/grey.png"
        >>> Image.fromarray(np.zeros((20, 30), "uint8")).save(path)
        >>> read_image(path, (28, 28, 3)).shape
        (28, 28, 3)
    """
    from PIL import Image

    from zoo.data import decode_image, decoded_via_rgb

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such image file. Received: image={path!r}")
    # The decoder and resize of the training folder pipeline, TensorFlow's.
    _check_tensorflow("Reading images as the training folder pipeline does")
    import tensorflow as tf

    height, width, channels = _image_shape(shape)
    try:
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as header:  # the header only: format and size
                file_format, mode = header.format, header.mode
        # `decoded_via_rgb` also refuses, in a ValueError, formats TensorFlow does not decode.
        image = decode_image(tf.io.read_file(path), channels, decoded_via_rgb(file_format, mode, channels))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"Could not read the image {path!r}: {_reason(e)}. Received: image={path!r}") from None
    except tf.errors.OpError as e:  # TensorFlow's message, less the op's name and device
        reason = re.sub(r"^\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\].*$", "", e.message)
        raise ValueError(f"Could not read the image {path!r}: {_reason(reason)}. Received: image={path!r}") from None
    if height and width and tuple(image.shape[:2]) != (height, width):
        image = tf.cast(tf.round(tf.image.resize(image, (height, width), method="bilinear")), tf.uint8)
    return image.numpy()


def _check_probabilities(outputs: np.ndarray, predictor: Predictor) -> None:
    """Raises one line where outputs taken as probabilities lie outside [0, 1]:
    a report of another model beside an export, or a `Predictor` made with
    the wrong `outputs`."""
    outside = outputs[(outputs < -PROBABILITY_TOLERANCE) | (outputs > 1 + PROBABILITY_TOLERANCE)]
    if not outside.size:
        return
    value = float(outside[np.argmax(np.abs(outside - 0.5))])
    model = f"The model {predictor.path!r}" if predictor.path else "The model"
    received = f"model={predictor.path!r}, output={value:.4g}" if predictor.path else f"output={value:.4g}"
    if predictor.report:
        raise ValueError(
            f"{model} output {value:.4g}, outside [0, 1], yet the export report beside it, {predictor.report!r}, "
            f"says its outputs are probabilities: the report does not describe this model; export the model "
            f"again, or delete the report (its graph then decides). Received: {received}"
        )
    raise ValueError(
        f"{model} output {value:.4g}, outside [0, 1], yet its outputs are taken as probabilities: "
        f"they are logits (make the Predictor with outputs='logits'). Received: {received}"
    )


def _probabilities(outputs: np.ndarray, kind: str) -> np.ndarray:
    """`outputs` as probabilities: logits go through a softmax, probabilities stay."""
    if kind == "probabilities":
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def predict_files(model, images: Sequence, *, top_k: int = 5) -> list[dict]:
    """The top-k classes of each image file.

    Args:
        model: A `.keras` file, SavedModel directory or `.tflite` file, or a
            `Predictor`.
        images: Image file paths.
        top_k: Classes per image. Defaults to 5.

    Returns:
        One dict per image: `{"image": path, "top_k": [{"index", "name",
        "probability"}, ...]}`, most probable first; `name` is None when the
        class names are unknown. A model's logits go through a softmax; its
        probabilities (softmax or sigmoid outputs) are shown as they are.
        Images are decoded and run `BATCH` at a time.

    Raises:
        ValueError: For bad arguments, an image that cannot be read, a model
            that is no classifier, or outputs taken as probabilities (from
            an export's report, say) that lie outside [0, 1] by more than
            `PROBABILITY_TOLERANCE`: the report describes another model.

    Examples:

        >>> import tempfile, numpy as np, zoo
        >>> from PIL import Image
        >>> folder = tempfile.mkdtemp()
        >>> zoo.mnist_convnet().save(folder + "/m.keras")
        >>> Image.fromarray(np.zeros((28, 28), "uint8")).save(folder + "/black.png")
        >>> len(predict_files(folder + "/m.keras", [folder + "/black.png"], top_k=3)[0]["top_k"])
        3
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive integer. Received: top_k={top_k!r}")
    if isinstance(images, (str, os.PathLike)) or not images:
        raise ValueError(f"`images` must be a non-empty list of image files. Received: images={images!r}")
    predictor = model if isinstance(model, Predictor) else load_predictor(model)
    images = list(images)
    results = []
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        pixels = [read_image(p, predictor.input_shape) for p in chunk]
        if len({x.shape for x in pixels}) == 1:
            outputs = np.asarray(predictor.run(np.stack(pixels).astype(np.float32)))
        else:  # a model with free sides, images of several sizes
            outputs = np.concatenate([np.asarray(predictor.run(x[None].astype(np.float32))) for x in pixels])
        if outputs.ndim != 2:
            raise ValueError(
                f"Expected a classifier, one score per class. Received: output_shape={tuple(outputs.shape[1:])}"
            )
        outputs = outputs.astype(np.float32)
        if predictor.outputs == "probabilities":
            _check_probabilities(outputs, predictor)
        probabilities = _probabilities(outputs, predictor.outputs)
        classes = predictor.classes if predictor.classes and len(predictor.classes) == outputs.shape[1] else None
        for path, p in zip(chunk, probabilities):
            best = np.argsort(-p, kind="stable")[:top_k]
            results.append({
                "image": os.fspath(path),
                "top_k": [
                    {"index": int(i), "name": classes[i] if classes else None, "probability": float(p[i])}
                    for i in best
                ],
            })
    return results
