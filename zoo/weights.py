"""Trained weights that ship with the zoo, their metadata, and loading them.

Each weight set is a tag of a model (`mnist_convnet(weights="mnist")`). Its
record, `zoo/weights/MODEL.TAG.json`, sits beside its file and was written by
the script that trained it (`tools/make_weights.py`): the class names, the
input and preprocessing, the accuracy measured on a held-out split with its
record count and machine, the exact command, the file's sha256 and size.
VGG's `"imagenet"` record holds keras.applications' URLs, hashes and the
published accuracy instead of a file.

Loading builds the model the weights were trained as (the record's
`config`), loads the hash-checked file into it, and copies the weights layer
by layer by name into the model asked for (`transfer_weights`), so a weight
set serves any channel count, a new `classes` and `features_only` alike.

Reference:
    torchvision's `Weights.meta`, https://pytorch.org/vision/stable/models.html
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import keras
import numpy as np

from zoo._common import one_line

WEIGHTS_DIR = Path(__file__).with_name("weights")
# The layers that make a classifier head: a new `classes` re-initialises them.
HEAD_LAYERS = ("predictions", "logits")
# Fixed filter banks are rebuilt from their config, never trained or copied.
_FIXED_BANKS = ("EdgeFilters", "LeungMalikFilters")


@functools.cache
def _records() -> dict[tuple[str, str], dict]:
    records = {}
    for path in sorted(WEIGHTS_DIR.glob("*.json")):
        if path.name.count(".") != 2:  # MODEL.TAG.json; imagenet_classes.json is no record
            continue
        record = json.loads(path.read_text())
        records[(record["model"], record["tag"])] = record
    return records


def tags(name: str) -> tuple[str, ...]:
    """The weight sets recorded for model `name`, such as `("mnist",)`."""
    return tuple(sorted(tag for model, tag in _records() if model == name))


def weights_info(name: str) -> dict[str, dict]:
    """The records of model `name`'s weight sets, `{tag: record}`.

    Examples:

        >>> record = weights_info("mnist_convnet")["mnist"]
        >>> record["class_names"][:3], record["input_shape"]
        (['0', '1', '2'], [28, 28, 1])
    """
    return {tag: dict(_records()[(name, tag)]) for tag in tags(name)}


def record(name: str, tag: str) -> dict:
    """One weight set's record.

    Raises:
        ValueError: If the model has no weight set of that tag.
    """
    if (name, tag) not in _records():
        have = ", ".join(map(repr, tags(name))) or "none"
        raise ValueError(f"{name} has no weight set {tag!r} (it has {have}). Received: weights={tag!r}")
    return dict(_records()[(name, tag)])


def class_names(name: str, tag: str) -> list[str]:
    """The class names of a weight set, in output order."""
    names = record(name, tag)["class_names"]
    if isinstance(names, str):  # a file beside the records, as for ImageNet
        names = [entry[1] for entry in json.loads((WEIGHTS_DIR / names).read_text())]
    return list(names)


def sha256(path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_path(name: str, tag: str) -> str:
    """The shipped file of a weight set, checked against its recorded sha256.

    Raises:
        ValueError: If the weight set is not shipped (keras.applications'
            ImageNet files are downloaded by the factory), or the file is
            missing or its hash differs (a damaged install); the message says
            how to repair it.
    """
    entry = record(name, tag)
    if not entry.get("file"):
        raise ValueError(
            f"The {name} weights {tag!r} are not shipped with keras-zoo: `zoo.{name}(weights={tag!r})` "
            f"downloads keras.applications' file and caches it in $KERAS_HOME/models. Received: weights={tag!r}"
        )
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise ValueError(
            f"The {name} weights {tag!r} are missing from this install: no {str(path)!r}. "
            f"Reinstall keras-zoo (pip install --force-reinstall keras-zoo). Received: weights={tag!r}"
        )
    found = sha256(path)
    if found != entry["sha256"]:
        raise ValueError(
            f"The {name} weights {tag!r} are damaged: {str(path)!r} has sha256 {found}, its record "
            f"{entry['sha256']}. Reinstall keras-zoo (pip install --force-reinstall keras-zoo). "
            f"Received: weights={tag!r}"
        )
    return str(path)


def adapt_kernel(kernel: np.ndarray, channels: int) -> np.ndarray:
    """A convolution kernel for `channels` input channels, from one for others.

    timm's rule (repeat the kernel over the new channels and rescale by
    old/new), plus an equal share to every channel of what that leaves over,
    so the kernel summed over its input channels always equals the original
    summed over its own: on an input whose channels are all equal, the
    response is the original's on equal channels. With a whole multiple of
    the old count it is exactly timm's; with one channel, the sum.

    Args:
        kernel: `(kh, kw, in_channels, filters)`.
        channels: The new input channel count.

    Returns:
        A `(kh, kw, channels, filters)` kernel of the same dtype.

    Examples:

        >>> k = np.ones((1, 1, 3, 1), "float32")
        >>> adapt_kernel(k, 4)[0, 0, :, 0].tolist(), float(adapt_kernel(k, 2).sum())
        ([0.75, 0.75, 0.75, 0.75], 3.0)
    """
    old = kernel.shape[2]
    wide = kernel.astype("float64")
    repeats = -(-channels // old)
    tiled = np.tile(wide, (1, 1, repeats, 1))[:, :, :channels] * (old / channels)
    residual = wide.sum(axis=2, keepdims=True) - tiled.sum(axis=2, keepdims=True)
    return (tiled + residual / channels).astype(kernel.dtype)


def _fixed_config(layer) -> dict:
    return {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "trainable")}


def transfer_weights(source: keras.Model, target: keras.Model, *, what: str) -> list[str]:
    """Copies trained weights from `source` into `target`, layer by name.

    Every layer of `target` with weights takes its source's when the shapes
    agree. Where only the channel count differs, as after a first layer for
    another input channel count: a convolution kernel's input channels are
    adapted (`adapt_kernel`), and a per-channel vector (batch normalisation
    of a fixed filter bank's maps) is repeated. A classifier layer whose
    class count differs (`HEAD_LAYERS`) keeps its fresh initialisation.

    Args:
        source: The model the weights were trained as.
        target: The model to fill, of the same family.
        what: How the caller names the weights, for messages.

    Returns:
        The names of the layers left freshly initialised (a new head).

    Raises:
        ValueError: If a layer of `target` has no counterpart, or one whose
            weights cannot be adapted.
    """
    fresh = []
    for layer in target.layers:
        if not layer.weights:
            continue
        other = _counterpart(source, layer.name)
        if other is None or len(other.weights) != len(layer.weights):
            raise ValueError(
                f"{what} hold no weights for layer {layer.name!r} of {target.name!r}: they were "
                f"trained for another architecture. Build it with the arguments of the weights' record "
                f"(zoo.model_info(name)['weights'])."
            )
        if type(layer).__name__ in _FIXED_BANKS:
            if _fixed_config(layer) != _fixed_config(other):
                raise ValueError(
                    f"{what} were trained with {layer.name} {_fixed_config(other)}. "
                    f"Received: {_fixed_config(layer)}"
                )
            continue
        wanted = [tuple(w.shape) for w in layer.weights]
        arrays = [keras.ops.convert_to_numpy(w) for w in other.weights]
        if [a.shape for a in arrays] == wanted:
            layer.set_weights(arrays)
            continue
        if layer.name in HEAD_LAYERS and wanted[0][:-1] == arrays[0].shape[:-1]:
            fresh.append(layer.name)
            continue
        adapted = _adapt_channels(arrays, wanted)
        if adapted is None:
            raise ValueError(
                f"{what} do not fit layer {layer.name!r} of {target.name!r}: they hold shapes "
                f"{[a.shape for a in arrays]}, the layer needs {wanted}. With the classifier "
                f"(include_top=True) the input must be {tuple(source.input_shape[1:3])} as trained."
            )
        layer.set_weights(adapted)
    return fresh


def _counterpart(source: keras.Model, name: str):
    """`source`'s layer `name`, else None; a classifier is the other's under
    either of `HEAD_LAYERS`' names (a model with test-time views names its
    dense classifier `logits`, one without `predictions`)."""
    names = (name, *(n for n in HEAD_LAYERS if n != name)) if name in HEAD_LAYERS else (name,)
    for candidate in names:
        try:
            other = source.get_layer(candidate)
        except ValueError:
            continue
        if other.weights:
            return other
    return None


def _adapt_channels(arrays, wanted):
    """Adapts weights whose only difference is the input channel count, else None."""
    adapted = []
    for array, shape in zip(arrays, wanted):
        if array.shape == shape:
            adapted.append(array)
        elif array.ndim == 4 and array.shape[:2] + array.shape[3:] == shape[:2] + shape[3:]:
            adapted.append(adapt_kernel(array, shape[2]))
        elif array.ndim == 1 and len(shape) == 1 and shape[0] % array.shape[0] == 0:
            adapted.append(np.tile(array, shape[0] // array.shape[0]))
        else:
            return None
    return adapted


def load_pretrained(model: keras.Model, factory, name: str, tag: str) -> list[str]:
    """Fills `model` with model `name`'s shipped weight set `tag`.

    Args:
        model: A model built by `factory`, in any configuration the weights
            can serve (see `transfer_weights`).
        factory: The model's factory, to build the model the weights were
            trained as.
        name: The registered model name.
        tag: The weight set.

    Returns:
        The names of the layers left freshly initialised (a new head).
    """
    entry = record(name, tag)
    path = weights_path(name, tag)
    source = factory(**entry["config"])
    try:
        source.load_weights(path)
    except Exception as e:  # Keras raises many types for a bad file.
        raise ValueError(f"Could not load the {name} weights {tag!r} from {path!r}: {one_line(e)}") from None
    return transfer_weights(source, model, what=f"The {name} weights {tag!r}")


def decode_predictions(preds, *, weights: tuple[str, str], top: int = 5) -> list[list[tuple[str, float]]]:
    """The `top` most probable classes of each prediction, by name.

    Like `keras.applications.imagenet_utils.decode_predictions`, with the
    class names of a weight set's record.

    Args:
        preds: Model outputs, `(samples, classes)`.
        weights: `(model name, weight tag)`, such as `("mnist_convnet", "mnist")`.
        top: How many classes per sample. Defaults to 5.

    Returns:
        One list per sample of `(class name, score)` pairs, best first.

    Raises:
        ValueError: If `preds` is not `(samples, classes)` with the weight
            set's class count, or `top` is not a positive integer.

    Examples:

        >>> import numpy as np
        >>> decode_predictions(np.eye(10)[[7]], weights=("mnist_convnet", "mnist"), top=2)
        [[('7', 1.0), ('0', 0.0)]]
    """
    if not (isinstance(weights, tuple) and len(weights) == 2):
        raise ValueError(f"`weights` must be (model name, tag). Received: weights={weights!r}")
    names = class_names(*weights)
    preds = np.asarray(keras.ops.convert_to_numpy(preds))
    if preds.ndim != 2 or preds.shape[1] != len(names):
        raise ValueError(
            f"`decode_predictions` expects a batch of predictions, shape (samples, {len(names)}) "
            f"for {weights}. Received: preds.shape={preds.shape}"
        )
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"`top` must be a positive integer. Received: top={top!r}")
    results = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(names[i], float(row[i])) for i in best])
    return results
