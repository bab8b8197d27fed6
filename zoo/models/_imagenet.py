"""What the families interchangeable with keras.applications share.

keras.applications' ImageNet files: downloading them once into Keras' cache
with a bounded wait, checking their hash, reading their Keras 2 `.h5` layout
and copying their weights into a zoo model by layer name, with the first
convolution adapted to another input channel count. And the two input
conventions of those files: "caffe" (BGR minus the ImageNet channel means;
VGG, ResNet) and "tf" (pixels scaled to [-1, 1]; MobileNetV2), built into
the model as weightless layers.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Sequence

import h5py
import keras
import numpy as np

from zoo import _common
from zoo.layers import ReverseChannels
from zoo.weights import adapt_kernel, sha256

IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
# What a model for other than 3 channels subtracts from every channel in
# "caffe" mode: an image with equal channels stands for R = G = B.
IMAGENET_MEAN_GREY = float(np.mean(IMAGENET_MEAN_BGR))
DOWNLOAD_TIMEOUT_S = 15


@contextlib.contextmanager
def _socket_timeout(seconds):
    # keras.utils.get_file has no timeout; a firewalled host would hang forever.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def keras_home() -> str:
    """Where keras.utils.get_file caches by default (keras.config has no accessor)."""
    return os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))


def _pin(path: str, origin: str) -> None:
    """Checks a file that has no published hash against the sha256 recorded
    beside it when it was first read, or, once it reads, records it."""
    pin = path + ".sha256"
    found = sha256(path)
    if os.path.exists(pin):
        with open(pin) as f:
            expected = f.read().strip()
        if found != expected:
            raise ValueError(
                f"The cached ImageNet weights file {path} changed since it was downloaded (sha256 {found[:12]}..., "
                f"{expected[:12]}... when first read): delete {path} and {pin} to download it again, or without "
                f"network access copy {origin} there and delete {pin}. Received: weights='imagenet'"
            )
        return
    # Only a file that reads is pinned: a damaged one must not become the trusted copy.
    try:
        _read_h5(path)
    except Exception as e:  # h5py raises OSError, KeyError and more for bad files.
        raise ValueError(
            f"The cached ImageNet weights file {path} cannot be read ({_common.one_line(e, 200)}): delete it to "
            f"download it again, or without network access copy {origin} there. Received: weights='imagenet'"
        ) from None
    with open(pin, "w") as f:
        f.write(found + "\n")


def download(fname: str, origin: str, file_hash: str | None, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> str:
    """Returns the cached keras.applications file `fname`, downloading it if needed.

    The file is fetched with `keras.utils.get_file` into `$KERAS_HOME/models`
    (`~/.keras/models` by default), as keras.applications does, and checked
    against `file_hash` (the md5 keras.applications publishes). For files it
    publishes no hash for (MobileNetV2's), the sha256 of the first copy that
    reads is kept beside the file and every later load is checked against it.

    Raises:
        ValueError: If the file is neither cached nor downloadable, or fails
            its check; the message says where to put a copy.
    """
    home = keras_home()
    try:
        # get_file falls back to /tmp/.keras when the cache does not exist yet.
        os.makedirs(home, exist_ok=True)
        with _socket_timeout(timeout):
            path = keras.utils.get_file(fname, origin, cache_dir=home, cache_subdir="models", file_hash=file_hash)
    except Exception as e:  # get_file raises many types; one message says what to do.
        cache = os.path.join(home, "models")
        # get_file's reason repeats the URL, which the advice below gives: only what went wrong is kept.
        reason = _common.one_line(str(e).replace(origin, fname), 200)
        raise ValueError(
            f"Could not get the ImageNet weights {fname} ({reason}). Without network "
            f"access, download {origin} elsewhere and copy it into {cache}, or pass "
            f"weights='/path/to/{fname}'. Received: weights='imagenet'"
        ) from None
    if file_hash is None:
        _pin(path, origin)
    return path


def _read_h5(path: str) -> dict[str, list[np.ndarray]]:
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        weights = {}
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = group[layer].attrs["weight_names"]
            weights[layer] = [np.asarray(group[layer][n]) for n in names]
        return weights


def read_legacy_h5(path: str) -> dict[str, list[np.ndarray]]:
    """Reads a Keras 2 `.h5` weights file as `{layer name: [arrays]}`."""
    try:
        return _read_h5(path)
    except Exception as e:  # h5py raises OSError, KeyError and more for bad files.
        raise ValueError(f"Could not read keras.applications weights from {path!r}: {_common.one_line(e, 200)}") from None


def load_weights(
    model: keras.Model,
    weights: str | None,
    *,
    imagenet_file: Callable[[], str],
    load_head: bool,
    head: Sequence[str],
    first_conv: str,
    adapt_first: Callable[[list[np.ndarray], int], list[np.ndarray]],
) -> None:
    """Fills a freshly built model of a keras.applications family from `weights`.

    Args:
        model: The model.
        weights: None (nothing to load), `"imagenet"` (the file
            `imagenet_file()` returns), a keras.applications-style `.h5` file
            (loaded by layer name, see `load_by_name`), or a Keras 3
            `.weights.h5` or `.keras` file of the same configuration.
        imagenet_file: Returns the cached ImageNet file, downloading it if needed.
        load_head, head, first_conv, adapt_first: As for `load_by_name`.
    """
    if weights is None:
        return
    path = imagenet_file() if weights == "imagenet" else weights
    if str(path).endswith((".weights.h5", ".keras")):
        _common.load_weights_file(model, path)
    else:
        load_by_name(model, path, load_head=load_head, head=head, first_conv=first_conv, adapt_first=adapt_first)


def caffe_first_conv(arrays: list[np.ndarray], channels: int) -> list[np.ndarray]:
    """A "caffe"-mode first convolution for `channels` inputs minus `IMAGENET_MEAN_GREY`.

    The kernel's colour channels are put in RGB order and adapted to
    `channels` (`zoo.weights.adapt_kernel`: one channel gets their sum, more
    repeat them, rescaled), so its sum over input channels is the file's.
    On equal channels `g` the BGR kernel `K` sees `g - m_c` in channel `c`;
    the adapted one `g - IMAGENET_MEAN_GREY` everywhere; the difference,
    `sum K[i, j, c] * (IMAGENET_MEAN_GREY - m_c)` over taps and channels, is
    the same at every pixel whose window lies inside the image, so it goes
    into the bias. Only the border differs: there some taps fall on the zero
    padding, which both models see as 0, and their share of the folded term
    is not due.

    Args:
        arrays: The file's kernel, `(kh, kw, 3, filters)` with input channels
            BGR, and its bias, `(filters,)`.
        channels: The model's input channels.

    Returns:
        The kernel `(kh, kw, channels, filters)` and the bias.
    """
    kernel, bias = arrays
    residual = IMAGENET_MEAN_GREY - np.asarray(IMAGENET_MEAN_BGR)
    folded = bias + np.einsum("ijcf,c->f", kernel.astype("float64"), residual)
    return [adapt_kernel(kernel[:, :, ::-1], channels), folded.astype(bias.dtype)]


def tf_first_conv(arrays: list[np.ndarray], channels: int) -> list[np.ndarray]:
    """A "tf"-mode first convolution for `channels` inputs.

    The preprocessing is the same on every channel, so the adapted kernel
    (`zoo.weights.adapt_kernel`) alone gives, on an image with equal
    channels, the RGB model's response to R = G = B, borders included.
    """
    return [adapt_kernel(arrays[0], channels), *arrays[1:]]


def caffe_preprocessing(x, channels: int):
    """keras.applications' "caffe" `preprocess_input` as layers: RGB to BGR and
    minus the ImageNet channel means (minus their mean on other channel counts)."""
    if channels == 3:
        x = ReverseChannels(name="rgb_to_bgr")(x)
        offset = [-m for m in IMAGENET_MEAN_BGR]
    else:
        offset = -IMAGENET_MEAN_GREY
    return keras.layers.Rescaling(1.0, offset=offset, name="mean_subtraction")(x)


def tf_preprocessing(x):
    """keras.applications' "tf" `preprocess_input` as a layer: `x / 127.5 - 1`."""
    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="pixel_scaling")(x)


def load_by_name(
    model: keras.Model,
    path: str,
    *,
    load_head: bool,
    head: Sequence[str],
    first_conv: str,
    adapt_first: Callable[[list[np.ndarray], int], list[np.ndarray]],
) -> None:
    """Copies weights from a keras.applications `.h5` file by layer name.

    Loads the convolutional base, and the head when `load_head`. A model for
    another channel count than 3 gets the file's first convolution through
    `adapt_first`.

    Args:
        model: The zoo model to fill.
        path: A keras.applications-style weights file, with or without its head.
        load_head: Whether to load the head layers too.
        head: The names of the head's layers.
        first_conv: The name of the convolution that sees the pixels.
        adapt_first: Adapts that convolution's weights to the model's channels.

    Raises:
        ValueError: If the file does not hold the model's base, or a layer's
            weights do not fit.
    """
    saved = read_legacy_h5(path)
    # A deeper sibling's file holds every name of a shallower one: compare the whole base.
    file_base = {n for n, w in saved.items() if w and n not in head}
    model_base = {layer.name for layer in model.layers if layer.weights and layer.name not in head}
    if file_base != model_base:
        raise ValueError(
            f"{path!r} does not hold the convolutional base of {model.name!r}: "
            f"layers only in the file {sorted(file_base - model_base)[:5]}, only in the "
            f"model {sorted(model_base - file_base)[:5]}."
        )
    for layer in model.layers:
        if not layer.weights or (layer.name in head and not load_head):
            continue
        if layer.name not in saved or not saved[layer.name]:
            raise ValueError(
                f"{path!r} holds no weights for layer {layer.name!r} of the classifier head. "
                "Use include_top=False or another `classes` to build a new head."
            )
        arrays = saved[layer.name]
        channels = layer.weights[0].shape[2] if layer.name == first_conv else None
        if channels is not None and channels != 3 and arrays[0].ndim == 4 and arrays[0].shape[2] == 3:
            arrays = adapt_first(arrays, channels)
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise ValueError(
                f"Weights in {path!r} do not fit layer {layer.name!r}: the file holds "
                f"shapes {[a.shape for a in arrays]}, the layer needs {expected}."
            )
        layer.set_weights(arrays)
