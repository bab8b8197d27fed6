"""Image-classification data for every recipe, as batched `tf.data` pipelines.

`load_dataset` reads, in this order of preference:

- `mnist:sample`, `cifar10:sample`: real images shipped with the package
  (taken from the official files), for offline demos and tests;
- `folder`: an image folder with one sub-folder per class (validation and
  test records held out of it), or train/ and test/ folders laid out so,
  read as `keras.utils.image_dataset_from_directory` reads them (hidden
  files and broken links left out, every file's header checked first);
- `mnist`, `cifar10`, `fashion_mnist`: the official raw files when
  `data_dir` holds them (`DIR/mnist/*-ubyte.gz`, IDX format;
  `DIR/cifar10/cifar-10-batches-py/`, the python pickles), whatever their
  record counts;
- any tensorflow-datasets image-classification dataset, already prepared in
  `data_dir` or downloaded by tfds when the network answers.

Images stay raw pixels (uint8, [0, 255]): the zoo's models hold their own
preprocessing. Labels are integers. Missing data or no network fails within
seconds, naming the sources tried.

Where TensorFlow is not installed at all (a JAX-only or PyTorch-only
environment), the in-memory sources (the samples and the official raw files)
are served by `ArrayBatches` instead, a `keras.utils.PyDataset` of NumPy
batches that `model.fit` takes on every backend, with the same counts, steps
and augmentations (warped by `_warp_numpy`, TensorFlow's resampling in
NumPy); image folders and tensorflow-datasets then fail, saying what to
install. Where TensorFlow is installed, the pipelines are `tf.data` whatever
the Keras backend.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import gzip
import importlib.util
import logging
import math
import os
import pickle
import socket
import warnings
import zipfile
import zlib
from pathlib import Path

import keras
import numpy as np

from zoo._common import did_you_mean, one_line

SAMPLES_DIR = Path(__file__).with_name("samples")
SAMPLES = ("mnist:sample", "cifar10:sample")
# Where the raw official files live under a data directory, per dataset.
RAW_LAYOUT = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "cifar10": "cifar10/cifar-10-batches-py",
}
# The official files of each layout: IDX files (gzipped or not), CIFAR-10 pickles.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
# A single image folder holds out at least this share of its images for
# testing, also when nothing is held out for validation.
FOLDER_TEST_SPLIT = 0.1
# Seeds which images of a folder are held out: the same ones whatever the seed.
FOLDER_SPLIT_SEED = 0
TFDS_HOST = ("storage.googleapis.com", 443)
NETWORK_TIMEOUT_S = 3


@dataclasses.dataclass
class ImageData:
    """Train, validation and test pipelines, and what they hold.

    The pipelines are `tf.data.Dataset`s, or `ArrayBatches` where TensorFlow
    is not installed (see `tensorflow_available`).

    Attributes:
        train: Batched, shuffled, augmented, prefetched `(images, labels)`.
        validation: Batched, prefetched; empty when `validation_split=0`.
        test: Batched, prefetched.
        num_classes: Number of classes.
        class_names: A name per class.
        image_shape: `(height, width, channels)` of every image.
        counts: Records per split, `{"train": ..., "validation": ..., "test": ...}`.
        source: Where the records came from, in words.
        steps_per_epoch: Batches in one pass over `train`.
        plain_train: The training records batched in order, without
            augmentation (for statistics of the training images, such as
            `zoo.training.update_batchnorm_statistics`); read only when used.
    """

    train: object
    validation: object
    test: object
    num_classes: int
    class_names: list
    image_shape: tuple
    counts: dict
    source: str
    steps_per_epoch: int
    plain_train: object = None


@functools.cache
def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported here; when not, pipelines are NumPy.

    Looked up once per process: a module spec, then a real import, so a
    broken installation also counts as missing. A `None` in
    `sys.modules["tensorflow"]` (how tests hide TensorFlow) reads as missing.

    Returns:
        True when `import tensorflow` works.

    Examples:

        >>> isinstance(tensorflow_available(), bool)
        True
    """
    try:
        if importlib.util.find_spec("tensorflow") is None:
            return False
        import tensorflow  # noqa: F401
    except Exception:  # ImportError, or a broken installation failing otherwise
        return False
    return True


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR-10 python batches and nothing that could run code.

    The official files hold dicts of bytes, lists and NumPy arrays; a pickle
    naming any other callable is refused rather than executed.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _corrupt(path, reason) -> ValueError:
    return ValueError(f"Could not read {str(path)!r}: {reason}")


def read_idx(path) -> np.ndarray:
    """Reads an IDX file (the MNIST format), gzipped or not, as a uint8 array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # zlib.error: a corrupt deflate stream
        raise _corrupt(path, e) from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise _corrupt(path, "not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise _corrupt(path, f"the header announces shape {shape}, the file holds {len(data) - header} bytes")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _read_cifar_batch(path):
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnlyUnpickler(f, encoding="bytes").load()
        pixels, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
        if labels.dtype == object:  # a pickled object array of Python ints reads as ints
            labels = np.asarray(labels.tolist())
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError, TypeError) as e:
        raise _corrupt(path, e) from None
    # Pixel values are bytes: a cast to uint8 would silently wrap others.
    if pixels.dtype.kind not in "iu" or pixels.ndim != 2 or pixels.shape[1] != 3 * 32 * 32:
        raise _corrupt(path, f"the data must be rows of 3072 pixel bytes; found {pixels.dtype} of shape {pixels.shape}")
    if pixels.dtype != np.uint8 and pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise _corrupt(path, f"pixel values must be in [0, 255]; found {pixels.min()} to {pixels.max()}")
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise _corrupt(path, f"the labels must be a list of integers; found {labels.dtype} of shape {labels.shape}")
    if len(pixels) != len(labels):
        raise _corrupt(path, f"{len(pixels)} images but {len(labels)} labels")
    images = pixels.astype(np.uint8).reshape(-1, 3, 32, 32)
    return images.transpose(0, 2, 3, 1), labels.astype(np.int64)


def _check_labels(labels, num_classes, path):
    """Refuses labels outside `[0, num_classes)`, naming their file: Keras
    would train on them to no avail (all-zero one-hot rows)."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise _corrupt(
            path, f"labels must be in [0, {num_classes}); record {bad[0]} has label {labels[bad[0]]} "
                  f"({bad.size} of {len(labels)} out of range)"
        )


def _raw_files(name: str, data_dir) -> tuple[list, list]:
    """`(paths, missing)`: the official files of `name` under `data_dir`, in
    `IDX_FILES` or `CIFAR_FILES` order (None where missing), and the missing
    files' names."""
    folder = Path(data_dir) / RAW_LAYOUT[name]
    if name == "cifar10":
        paths = [folder / stem if (folder / stem).exists() else None for stem in CIFAR_FILES]
        return paths, [stem for stem, path in zip(CIFAR_FILES, paths) if path is None]
    paths = [next((c for c in (folder / f"{stem}.gz", folder / stem) if c.exists()), None) for stem in IDX_FILES]
    return paths, [f"{stem}[.gz]" for stem, path in zip(IDX_FILES, paths) if path is None]


def read_raw(name: str, data_dir) -> tuple | None:
    """Reads the official raw files of `name` under `data_dir`, or None.

    Returns:
        `((x_train, y_train), (x_test, y_test), class_names)`, images as
        uint8 `(n, height, width, channels)`, or None when the files are not
        all there.

    Raises:
        ValueError: If a file is not in its official format, holds labels
            outside the classes, or test images of another size than the
            training images; the message names the file.
    """
    paths, missing = _raw_files(name, data_dir)
    if missing:
        return None
    if name == "cifar10":
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        parts = [_read_cifar_batch(path) for path in paths]
        for (_, labels), path in zip(parts, paths):
            _check_labels(labels, len(names), path)
        x_train = np.concatenate([p[0] for p in parts[:5]])
        y_train = np.concatenate([p[1] for p in parts[:5]])
        return (x_train, y_train), parts[5], names

    names = [str(i) for i in range(10)] if name == "mnist" else [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
    ]
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    for images, labels, path in ((x_train, y_train, paths[1]), (x_test, y_test, paths[3])):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise _corrupt(path, f"{len(labels)} labels for images of shape {images.shape}")
        _check_labels(labels, len(names), path)
    if x_test.shape[1:] != x_train.shape[1:]:  # found now, not after an epoch of training
        raise _corrupt(
            paths[2], "images are {}x{}, the training images {}x{}".format(*x_test.shape[1:], *x_train.shape[1:])
        )
    return (x_train[..., None], y_train.astype(np.int64)), (x_test[..., None], y_test.astype(np.int64)), names


def read_sample(name: str):
    """Reads a sample shipped with the package: `mnist:sample` or `cifar10:sample`."""
    path = SAMPLES_DIR / f"{name.split(':')[0].lower()}.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"The {name} data shipped with keras-zoo is missing: no {str(path)!r}. Reinstall the package "
            f"(pip install --force-reinstall keras-zoo) or use --dataset {name.split(':')[0]} with --data-dir. "
            f"Received: dataset={name!r}"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]), [str(n) for n in f["class_names"]]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise _corrupt(path, e) from None


def network_available(host=TFDS_HOST, timeout=NETWORK_TIMEOUT_S) -> bool:
    """Whether a TCP connection to `host` opens within `timeout` seconds."""
    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False


# Training augmentations: one random affine warp per image, drawn from these
# ranges. Shifts are fractions of the side.
AUGMENTATIONS = {
    # A flipped digit is another symbol: small rotations, zooms and shifts
    # (2 pixels of 28), bilinear, on a black background.
    "digits": {"rotation": 10.0, "zoom": 0.1, "shift": 0.08, "flip": False,
               "whole_pixels": False, "interpolation": "bilinear", "fill_mode": "constant"},
    # Horizontal flips and whole-pixel shifts of up to 2 of 32 with reflected
    # borders, as airbench: a random crop of a reflect-padded image.
    "objects": {"rotation": 0.0, "zoom": 0.0, "shift": 1 / 16, "flip": True,
                "whole_pixels": True, "interpolation": "nearest", "fill_mode": "reflect"},
}


def augmentation(kind: str | None):
    """The training augmentation of a kind of data, as a batch function.

    Each image of a batch gets its own random affine warp (rotation, zoom,
    shift and flip in one resampling, `keras.ops.image.affine_transform`),
    from stateless random numbers: the same seed gives the same images, in
    any order of parallel calls. TensorFlow ops, for `tf.data`; without
    TensorFlow, `ArrayBatches` warps alike in NumPy.

    Args:
        kind: `"digits"` (rotations of up to 10 degrees, zooms of up to 10 %,
            shifts of up to 8 % of the side: a digit flipped is another
            symbol), `"objects"` (horizontal flips and whole-pixel shifts of up
            to 1/16 of the side, reflected borders), or None. See
            `AUGMENTATIONS`.

    Returns:
        `augment(images, seed)`, mapping a float32 batch `(n, h, w, c)` and a
        stateless seed (two integers) to an augmented batch; None for None.

    Examples:

        >>> import numpy as np
        >>> augment = augmentation("objects")
        >>> augment(np.zeros((4, 32, 32, 3), "float32"), [1, 2]).shape
        TensorShape([4, 32, 32, 3])
    """
    if kind is None:
        return None
    if kind not in AUGMENTATIONS:
        raise ValueError(
            f"`augment` must be one of {sorted(AUGMENTATIONS)} or None. Received: augment={kind!r}"
        )
    ranges = AUGMENTATIONS[kind]

    def augment(images, seed):
        return random_affine(images, seed, **ranges)

    return augment


def affine_transforms(u, height, width, *, rotation=0.0, zoom=0.0, shift=0.0, flip=False, whole_pixels=False):
    """The random affine warps of `random_affine`, from their uniform draws.

    Both pipelines share these maths: `random_affine` (TensorFlow tensors,
    inside `tf.data`) and `ArrayBatches` (NumPy arrays). Each output pixel
    `(x, y)` is read in the input at
    `(a0 x + a1 y + a2, b0 x + b1 y + b2)`: rotated and zoomed about the
    centre, mirrored, shifted.

    Args:
        u: float32 draws in [-1, 1], `(n, 5)`: rotation, zoom, horizontal and
            vertical shift, flip (mirrored when negative). A NumPy array, or
            a TensorFlow tensor.
        height: Image height, in pixels.
        width: Image width, in pixels.
        rotation: Largest rotation, in degrees. Defaults to 0.
        zoom: Largest relative zoom in or out. Defaults to 0.
        shift: Largest shift, as a fraction of the side. Defaults to 0.
        flip: Whether a negative `u[:, 4]` mirrors left to right. Defaults
            to False.
        whole_pixels: Whether shifts are rounded to whole pixels (half to
            even). Defaults to False.

    Returns:
        float32 `(n, 8)` transforms `[a0, a1, a2, b0, b1, b2, 0, 0]`, as
        `tf.raw_ops.ImageProjectiveTransformV3` and `_warp_numpy` take them;
        of the kind of `u`.

    Examples:

        >>> u = np.array([[0, 0, 0.5, 0, -1]], "float32")  # mirrored, shifted by 1 of 32
        >>> affine_transforms(u, 32, 32, shift=1 / 16, flip=True) + 0.0  # + 0.0: no -0.
        array([[-1.,  0., 32.,  0.,  1.,  0.,  0.,  0.]], dtype=float32)
    """
    if type(u).__module__.split(".")[0] == "tensorflow":  # eager or graph tensors, in tf.data
        import tensorflow as xp

        as_float = lambda v: v  # noqa: E731
    else:
        xp, as_float = np, lambda v: np.asarray(v, np.float32)
        u = as_float(u)
    angle = u[:, 0] * (rotation * np.pi / 180)
    scale = 1.0 + u[:, 1] * zoom
    tx, ty = u[:, 2] * shift * width, u[:, 3] * shift * height
    if whole_pixels:
        tx, ty = xp.round(tx), xp.round(ty)
    mirror = as_float(xp.where(u[:, 4] < 0, -1.0, 1.0)) if flip else xp.ones_like(angle)
    cos, sin = xp.cos(angle) / scale, xp.sin(angle) / scale
    a0, a1, b0, b1 = mirror * cos, -sin, mirror * sin, cos
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a2 = cx - a0 * cx - a1 * cy + tx
    b2 = cy - b0 * cx - b1 * cy + ty
    zeros = xp.zeros_like(a0)
    return as_float(xp.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1))


def random_affine(images, seed, *, rotation=0.0, zoom=0.0, shift=0.0, flip=False, whole_pixels=False,
                  interpolation="bilinear", fill_mode="constant"):
    """Warps each image of a batch by its own random affine transform.

    TensorFlow ops, for `tf.data`; `ArrayBatches` warps alike in NumPy
    (`_random_affine_numpy`).

    Args:
        images: float32 batch `(n, height, width, channels)`.
        seed: Stateless seed, two integers.
        rotation: Largest rotation, in degrees.
        zoom: Largest relative zoom in or out.
        shift: Largest shift, as a fraction of the side.
        flip: Whether half the images are flipped left to right.
        whole_pixels: Whether shifts are rounded to whole pixels.
        interpolation: `"bilinear"` or `"nearest"`.
        fill_mode: How points outside the image are filled, as in
            `keras.ops.image.affine_transform`.

    Returns:
        The warped batch, same shape and dtype.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    height, width = tf.cast(shape[1], "float32"), tf.cast(shape[2], "float32")
    u = tf.random.stateless_uniform([shape[0], 5], seed=seed, minval=-1.0, maxval=1.0)
    transform = affine_transforms(
        u, height, width, rotation=rotation, zoom=zoom, shift=shift, flip=flip, whole_pixels=whole_pixels
    )
    # TensorFlow's op, which `keras.ops.image.affine_transform` calls on its
    # TensorFlow backend: inside tf.data the Keras op would run on the
    # configured backend (JAX, PyTorch), which cannot take graph tensors.
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transform, output_shape=shape[1:3], fill_value=0.0,
        interpolation=interpolation.upper(), fill_mode=fill_mode.upper(),
    )
    return tf.ensure_shape(warped, images.shape)


def _map_coordinates(coord, length, fill_mode):
    """Input coordinates outside `[0, length - 1]` brought in, as TensorFlow's
    `MapCoordinate` does (tensorflow/core/kernels/image/image_ops.h), in float32."""
    if fill_mode == "constant":
        return coord
    if length <= 1:
        return np.zeros_like(coord)
    last = np.float32(length - 1)
    if fill_mode == "reflect":  # [abcd] -> [dcba|abcd|dcba]
        sz2 = np.float32(2 * length)
        below = sz2 * np.trunc(-coord / sz2) + coord
        below = np.where(below < -length, below + sz2, -below - 1)
        above = coord - sz2 * np.trunc(coord / sz2)
        above = np.where(above >= length, sz2 - above - 1, above)
    else:  # "wrap", [abcd] -> [abcd|abcd|abcd]; "nearest" only clamps
        sz, size = np.float32(length - 1), np.float32(length)
        below = coord + size * (np.trunc(-coord / sz) + 1) if fill_mode == "wrap" else coord
        above = coord - size * np.trunc(coord / sz) if fill_mode == "wrap" else coord
    mapped = np.where(coord < 0, below, np.where(coord > last, above, coord))
    return np.clip(mapped, np.float32(0), last).astype(np.float32)


def _warp_numpy(images, transforms, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """`tf.raw_ops.ImageProjectiveTransformV3` in NumPy, for the same inputs.

    Output pixel `(x, y)` (integer coordinates: pixel centres) of image `i`
    is read at `((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)` with
    `k = c0 x + c1 y + 1` and `transforms[i] = [a0, a1, a2, b0, b1, b2, c0,
    c1]`, all in float32 as TensorFlow computes it; a point outside the image
    is first mapped in by `fill_mode` (`"reflect"` mirrors about the edges
    of the outer pixels, `[abcd] -> [dcba|abcd|dcba]`; `"wrap"`, `"nearest"`;
    `"constant"` leaves it outside), then read bilinearly (pixels outside
    count as `fill_value`) or at the nearest pixel (halves rounded away from
    zero, as `std::round`).

    Args:
        images: `(n, height, width, channels)`, read as float32.
        transforms: `(n, 8)` or `(1, 8)` (the same warp for all), float32.
        interpolation: `"bilinear"` or `"nearest"`.
        fill_mode: `"constant"`, `"reflect"`, `"wrap"` or `"nearest"`.
        fill_value: The value of points outside the image. Defaults to 0.

    Returns:
        The warped float32 batch, same shape.
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"`interpolation` must be 'bilinear' or 'nearest'. Received: interpolation={interpolation!r}")
    if fill_mode not in ("constant", "reflect", "wrap", "nearest"):
        raise ValueError(
            f"`fill_mode` must be 'constant', 'reflect', 'wrap' or 'nearest'. Received: fill_mode={fill_mode!r}"
        )
    images = np.asarray(images, np.float32)
    n, height, width, _ = images.shape
    t = np.broadcast_to(np.asarray(transforms, np.float32).reshape(-1, 8), (n, 8))
    t = [t[:, k, None, None] for k in range(8)]
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    fill = np.float32(fill_value)
    projection = t[6] * xs + t[7] * ys + np.float32(1)
    infinite = projection == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (t[0] * xs + t[1] * ys + t[2]) / projection
        y = (t[3] * xs + t[4] * ys + t[5]) / projection
    x = np.where(infinite, np.float32(-2), x)  # read as fill_value below
    y = np.where(infinite, np.float32(-2), y)
    x, y = _map_coordinates(x, width, fill_mode), _map_coordinates(y, height, fill_mode)
    batch = np.arange(n)[:, None, None]

    def read(rows, cols):
        # Integer pixels, fill_value outside; clipped first so that far-away
        # coordinates cast safely (they are outside either way).
        rows = np.clip(rows, -1, height).astype(np.int64)
        cols = np.clip(cols, -1, width).astype(np.int64)
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        values = images[batch, np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
        return np.where(inside[..., None], values, fill)

    if interpolation == "nearest":
        def round_half_away(v):
            whole = np.trunc(v)
            return whole + np.where(np.abs(v - whole) >= 0.5, np.sign(v), np.float32(0))

        warped = read(round_half_away(y), round_half_away(x))
    else:
        y0, x0 = np.floor(y), np.floor(x)
        y1, x1 = y0 + 1, x0 + 1
        wx0, wx1 = (x1 - x)[..., None], (x - x0)[..., None]
        top = wx0 * read(y0, x0) + wx1 * read(y0, x1)
        bottom = wx0 * read(y1, x0) + wx1 * read(y1, x1)
        warped = (y1 - y)[..., None] * top + (y - y0)[..., None] * bottom
    return np.where(infinite[..., None], fill, warped).astype(np.float32)


def _random_affine_numpy(images, rng, *, rotation=0.0, zoom=0.0, shift=0.0, flip=False, whole_pixels=False,
                         interpolation="bilinear", fill_mode="constant"):
    """`random_affine` in NumPy: the draws from `rng` (a NumPy Generator), the
    same transform maths (`affine_transforms`) and warp (`_warp_numpy`)."""
    images = np.asarray(images, np.float32)
    u = rng.uniform(-1.0, 1.0, size=(len(images), 5)).astype(np.float32)
    transforms = affine_transforms(
        u, images.shape[1], images.shape[2], rotation=rotation, zoom=zoom, shift=shift, flip=flip,
        whole_pixels=whole_pixels,
    )
    return _warp_numpy(images, transforms, interpolation, fill_mode)


def _train_steps(train_count, batch_size):
    """`(drop_remainder, steps_per_epoch)` of a training pipeline: full
    batches only, unless there are too few records for one."""
    drop = train_count >= batch_size
    return drop, (train_count // batch_size if drop else 1)


def _entropy(seed):
    """A non-negative integer seeding NumPy Generators: `seed`, or fresh
    entropy for None."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    return int(seed) % 2**64


class ArrayBatches(keras.utils.PyDataset):
    """Batches of in-memory images and labels: the pipelines without TensorFlow.

    A `keras.utils.PyDataset`, which `model.fit`, `evaluate` and `predict`
    take on every backend, standing in for `tf.data` where TensorFlow is not
    installed (see `tensorflow_available`). Batch `i` of an epoch is the
    same whenever and however often it is read: its records (the epoch's
    order) and warps come from NumPy Generators seeded by `(seed, epoch)` and
    `(seed, epoch, i)`. Keras calls `on_epoch_end` after each epoch; a
    complete `for` loop over the batches ends one too, so that, as with
    `tf.data`, each pass is shuffled anew.

    Args:
        images: `(n, height, width, channels)` raw pixels, uint8.
        labels: `(n,)` integer labels.
        batch_size: Records per batch.
        shuffle: Whether each epoch visits the records in a new order.
            Defaults to False.
        drop_remainder: Whether each epoch's last partial batch is left out
            (reshuffled, every record is still seen). Defaults to False.
        augment: `"digits"`, `"objects"` or None: one random affine warp per
            image and epoch (see `AUGMENTATIONS`, `random_affine`); the
            images of augmented batches are float32, of others as given.
            Defaults to None.
        seed: Seed of the order and the warps. Defaults to None (fresh).
        num_classes: When given, labels are one-hot float32 rows of this
            length (see `one_hot`). Defaults to None (int64 labels).

    Examples:

        >>> import numpy as np
        >>> batches = ArrayBatches(np.zeros((10, 4, 4, 1), "uint8"), np.arange(10), batch_size=4)
        >>> len(batches), [len(y) for _, y in batches]
        (3, [4, 4, 2])
        >>> x, y = batches[0]
        >>> x.shape, x.dtype, y.tolist()
        ((4, 4, 4, 1), dtype('uint8'), [0, 1, 2, 3])
    """

    def __init__(self, images, labels, *, batch_size, shuffle=False, drop_remainder=False, augment=None,
                 seed=None, num_classes=None):
        super().__init__()
        images, labels = np.asarray(images), np.asarray(labels).astype(np.int64)
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(
                "`images` must be (n, height, width, channels) with one label each. "
                f"Received: images.shape={images.shape}, labels.shape={labels.shape}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        if augment is not None and augment not in AUGMENTATIONS:
            raise ValueError(f"`augment` must be one of {sorted(AUGMENTATIONS)} or None. Received: augment={augment!r}")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.drop_remainder = batch_size, bool(shuffle), bool(drop_remainder)
        self.augment, self.num_classes = augment, num_classes
        self.epoch = 0
        self._entropy = _entropy(seed)
        self._order = (None, None)  # (epoch, permutation)

    def __len__(self):
        count = len(self.labels)
        return count // self.batch_size if self.drop_remainder else math.ceil(count / self.batch_size)

    def _records(self):
        if not self.shuffle:
            return None
        epoch, order = self._order
        if epoch != self.epoch:
            order = np.random.default_rng([self._entropy, 0, self.epoch]).permutation(len(self.labels))
            self._order = (self.epoch, order)
        return order

    def __getitem__(self, index):
        count = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -count <= index < count:
            raise IndexError(f"Batch index out of range: {count} batches. Received: index={index!r}")
        index = int(index) % count
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        order = self._records()
        if order is not None:
            rows = order[rows]
        x, y = self.images[rows], self.labels[rows]
        if self.augment is not None:
            rng = np.random.default_rng([self._entropy, 1, self.epoch, index])
            x = _random_affine_numpy(x, rng, **AUGMENTATIONS[self.augment])
        if self.num_classes is not None:
            y = np.eye(self.num_classes, dtype=np.float32)[y]
        return x, y

    def __iter__(self):
        """One epoch of `(images, labels)` batches; the next epoch starts when
        the loop completes."""
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()

    def on_epoch_end(self):
        """Moves on to the next epoch: a new order and new warps."""
        self.epoch += 1

    def __repr__(self):
        return (
            f"<ArrayBatches: {len(self.labels)} records in {len(self)} batches of {self.batch_size}, "
            f"images {self.images.shape[1:]}, shuffle={self.shuffle}, augment={self.augment!r}>"
        )


def one_hot(pipeline, num_classes: int):
    """The pipeline with one-hot float32 labels, as categorical losses take them.

    Args:
        pipeline: A `tf.data.Dataset` of `(images, labels)` or an
            `ArrayBatches`, as in `ImageData`.
        num_classes: Length of the one-hot rows.

    Returns:
        A pipeline of the same kind: a mapped `tf.data.Dataset`, or an
        `ArrayBatches` holding the same records in the same order (its own
        epochs from the current one on).

    Examples:

        >>> import numpy as np
        >>> batches = ArrayBatches(np.zeros((6, 4, 4, 1), "uint8"), [0, 1, 2, 0, 1, 2], batch_size=4)
        >>> one_hot(batches, 3)[1][1]
        array([[0., 1., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer. Received: num_classes={num_classes!r}")
    if isinstance(pipeline, ArrayBatches):
        labelled = copy.copy(pipeline)
        labelled.num_classes = int(num_classes)
        return labelled
    if tensorflow_available():
        import tensorflow as tf

        if isinstance(pipeline, tf.data.Dataset):
            return pipeline.map(
                lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=tf.data.AUTOTUNE
            )
    raise TypeError(
        f"`pipeline` must be a tf.data.Dataset or an ArrayBatches. Received: pipeline={type(pipeline).__name__}"
    )


def _resize_numpy(images, image_size, chunk=1024):
    """Resizes uint8 images with `keras.ops.image.resize` (bilinear, no
    antialiasing) on the configured backend, then truncates to uint8 as
    `tf.cast` does in the TensorFlow path."""
    height, width = image_size
    if len(images) == 0:
        return np.zeros((0, height, width, images.shape[-1]), np.uint8)
    parts = []
    for start in range(0, len(images), chunk):
        resized = keras.ops.image.resize(
            np.asarray(images[start:start + chunk], np.float32), (height, width), interpolation="bilinear"
        )
        parts.append(np.clip(keras.ops.convert_to_numpy(resized), 0, 255).astype(np.uint8))
    return np.concatenate(parts)


def _needs_tensorflow(dataset, reads, install="tensorflow", hint=""):
    return ValueError(
        f"`--dataset {dataset}` {reads} with TensorFlow, which is not installed: pip install {install}{hint}. "
        f"Received: dataset={dataset!r}"
    )


def _pipelines(train, validation, test, *, train_count, batch_size, augment, seed):
    """Batched, cached, prefetched pipelines; augmentation on train only.

    The training pipeline drops each epoch's last partial batch (reshuffled,
    every record is still seen): a batch of another shape makes Keras trace
    its training step again, which costs seconds an epoch on a CPU.

    Returns:
        `(train, validation, test, steps_per_epoch, plain_train)`, the last
        the training records batched in order, without augmentation.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    drop, steps = _train_steps(train_count, batch_size)
    # One cache for both training pipelines: the plain one (read after
    # training, when the cache is full) does not decode the records again.
    cached = train.cache()
    train = cached.shuffle(max(train_count, 1), seed=seed, reshuffle_each_iteration=True).batch(
        batch_size, drop_remainder=drop
    )
    augment = augmentation(augment)
    if augment is not None:
        # Stateless seeds, one pair per batch, new each epoch.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        train = tf.data.Dataset.zip(train, seeds).map(
            lambda batch, s: (augment(tf.cast(batch[0], "float32"), s), batch[1]),
            num_parallel_calls=autotune,
        )
    # tf.data's autotuner fixes no knob here (the records are cached in memory;
    # AUTOTUNE parallelism then stays at the core count), and with it on about
    # one epoch in two began a second late: 8 % of cifar10_net's training
    # time and 10 % of mnist_convnet's on a 2-core Zen 4.
    options = tf.data.Options()
    options.autotune.enabled = False
    feed = lambda d: d.prefetch(autotune).with_options(options)  # noqa: E731
    finish = lambda d: feed(d.cache().batch(batch_size))  # noqa: E731
    return feed(train), finish(validation), finish(test), steps, feed(cached.batch(batch_size))


def _split_arrays(x, y, validation_split):
    # A fixed permutation: the same records are held out whatever the seed.
    order = np.random.default_rng(0).permutation(len(x))
    n_val = int(round(len(x) * validation_split))
    return (x[order[n_val:]], y[order[n_val:]]), (x[order[:n_val]], y[order[:n_val]])


def _from_arrays(train, test, names, *, source, batch_size, validation_split, augment, seed, image_size):
    """Pipelines of in-memory arrays: `tf.data`, or `ArrayBatches` without TensorFlow."""
    (x_train, y_train), (x_val, y_val) = _split_arrays(*train, validation_split)
    x_test, y_test = test
    resizing = image_size is not None and tuple(image_size) != x_train.shape[1:3]
    if tensorflow_available():
        import tensorflow as tf

        if resizing:
            resize = lambda x: tf.cast(tf.image.resize(x, image_size), tf.uint8).numpy()  # noqa: E731
            x_train, x_val, x_test = resize(x_train), resize(x_val), resize(x_test)
        slices = tf.data.Dataset.from_tensor_slices
        *pipes, steps, plain = _pipelines(
            slices((x_train, y_train)), slices((x_val, y_val)), slices((x_test, y_test)),
            train_count=len(x_train), batch_size=batch_size, augment=augment, seed=seed,
        )
    else:
        if resizing:
            x_train, x_val, x_test = (_resize_numpy(x, tuple(image_size)) for x in (x_train, x_val, x_test))
        drop, steps = _train_steps(len(x_train), batch_size)
        pipes = [
            ArrayBatches(x_train, y_train, batch_size=batch_size, shuffle=True, drop_remainder=drop,
                         augment=augment, seed=seed),
            ArrayBatches(x_val, y_val, batch_size=batch_size),
            ArrayBatches(x_test, y_test, batch_size=batch_size),
        ]
        plain = ArrayBatches(x_train, y_train, batch_size=batch_size)
    return ImageData(
        *pipes,
        plain_train=plain,
        steps_per_epoch=steps,
        num_classes=len(names),
        class_names=list(names),
        image_shape=tuple(x_train.shape[1:]),
        counts={"train": len(x_train), "validation": len(x_val), "test": len(x_test)},
        source=source,
    )


# The image files of a folder that are read, by extension (those of
# `keras.utils.image_dataset_from_directory`).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# The formats, as PIL names them, that TensorFlow decodes.
DECODED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
# Formats TensorFlow decodes to colour only (`channels` 0, 3 or 4; a grey BMP
# to 1 with 0): decoded as they are, then made grey for 1 channel.
COLOUR_ONLY_FORMATS = ("GIF", "BMP", "WEBP")


def _class_folders(folder) -> list:
    """The class sub-folders of `folder`, sorted; hidden ones left out."""
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith("."))


def _image_files(folder, class_names) -> tuple[list, list]:
    """`(paths, labels)` of the images in each class sub-folder of `folder`
    (label: the index in `class_names`), in the order
    `keras.utils.image_dataset_from_directory` lists them. Hidden files and
    folders (names starting with '.', such as macOS's `._x.png`) and broken
    links are left out; a class without a sub-folder has no images."""
    paths, labels = [], []
    for label, name in enumerate(class_names):
        walked = []
        for root, dirs, files in os.walk(Path(folder) / name):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            images = (f for f in files if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
            walked.append((root, sorted(images)))
        for root, files in sorted(walked, key=lambda w: w[0]):
            for file in files:
                path = os.path.join(root, file)
                if os.path.exists(path):  # False for a broken link
                    paths.append(path)
                    labels.append(label)
    return paths, labels


def decoded_via_rgb(file_format: str, mode: str, channels: int) -> bool:
    """Whether `decode_image` decodes an image as it is stored, then converts it.

    The rule, from the image's header as PIL reads it: TensorFlow decodes
    GIF, BMP and WebP to colour only (a grey BMP also to 1 channel as
    stored), CMYK JPEGs not to grey, JPEGs, GIFs and WebP not to 4
    channels, and a WebP file with alpha not to 3. Such an image is decoded
    as stored (`channels=0`), then converted: made grey by
    `tf.image.rgb_to_grayscale` (ITU-R 601 weights), alpha dropped; grey
    repeated to RGB; for 4 channels, its own alpha kept or an opaque one
    added. Other images are decoded straight to `channels` (libpng's and
    libjpeg's conversions, as Keras decodes them).

    Args:
        file_format: The format as PIL names it (`Image.format`), such as
            `"PNG"`.
        mode: PIL's mode of the image (`Image.mode`), such as `"CMYK"`.
        channels: The channels wanted: 1, 3 or 4.

    Returns:
        True where the image is decoded as stored, then converted.

    Raises:
        ValueError: For a format TensorFlow does not decode (any but PNG,
            JPEG, GIF, BMP and WebP, and 1-bit BMPs). The message is the
            reason alone, for the caller to name the file:
            "a TIFF image, which TensorFlow does not decode: convert it to
            PNG".

    Examples:

        >>> decoded_via_rgb("GIF", "P", 1), decoded_via_rgb("PNG", "RGBA", 1)
        (True, False)
    """
    if channels not in (1, 3, 4):
        raise ValueError(f"`channels` must be 1, 3 or 4. Received: channels={channels!r}")
    if file_format not in DECODED_FORMATS or (file_format == "BMP" and mode == "1"):
        kind = "1-bit BMP" if file_format == "BMP" else file_format
        raise ValueError(f"a {kind} image, which TensorFlow does not decode: convert it to PNG")
    if channels == 1:
        return file_format in COLOUR_ONLY_FORMATS or mode == "CMYK"
    if channels == 3:
        return file_format == "WEBP"
    return file_format in ("JPEG", "GIF", "WEBP")


def decode_image(content, channels: int, via_rgb):
    """Decodes an image file's bytes to uint8 `(height, width, channels)`.

    TensorFlow's decoder, as `keras.utils.image_dataset_from_directory`
    uses it (`tf.io.decode_image`, the first frame of an animation); the
    training folder pipeline and `zoo.predict.read_image` both decode so.
    A 16-bit PNG keeps the high byte of each sample; RGB becomes grey with
    libpng's or libjpeg's weights, except for images `decoded_via_rgb`.

    Args:
        content: The file's bytes, a string tensor (`tf.io.read_file`).
        channels: 1, 3 or 4.
        via_rgb: `decoded_via_rgb` of the image: a bool, or a boolean
            tensor in a `tf.data` map.

    Returns:
        A uint8 tensor `(height, width, channels)`.

    Examples:

        >>> import tensorflow as tf
        >>> png = tf.io.encode_png(tf.zeros((2, 3, 3), tf.uint8))
        >>> decode_image(png, 1, decoded_via_rgb("PNG", "RGB", 1)).shape
        TensorShape([2, 3, 1])
    """
    import tensorflow as tf

    def decoded(c):
        return tf.io.decode_image(content, channels=c, expand_animations=False)

    def converted():
        image = decoded(0)
        stored = tf.shape(image)[-1]  # 1 (a grey BMP or JPEG), 3, or 4 (a BMP or WebP with alpha)
        if channels == 1:
            return tf.cond(stored == 1, lambda: image[..., :1], lambda: tf.image.rgb_to_grayscale(image[..., :3]))
        rgb = tf.cond(stored < 3, lambda: tf.image.grayscale_to_rgb(image[..., :1]), lambda: image[..., :3])
        if channels == 3:
            return rgb
        opaque = lambda: tf.pad(rgb, [[0, 0], [0, 0], [0, 1]], constant_values=255)  # noqa: E731
        return tf.cond(stored == 4, lambda: image[..., :4], opaque)

    image = tf.cond(tf.convert_to_tensor(via_rgb, tf.bool), converted, lambda: decoded(channels))
    return tf.ensure_shape(image, (None, None, channels))


def _check_images(paths, channels: int) -> list:
    """Checks from their headers (PIL reads no pixels) that TensorFlow
    decodes the images at `paths`, so that a file that is not one fails
    before training, by name: about 0.4 s for 10,000 small PNGs.

    Returns:
        Per image, `decoded_via_rgb`: whether it is decoded as stored, then
        converted to `channels` (as `zoo.predict` reads it).
    """
    from PIL import Image, UnidentifiedImageError

    via_rgb = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for path in paths:
            try:
                with Image.open(path) as header:
                    kind, mode = header.format, header.mode
            except Image.DecompressionBombError:  # very large, yet TensorFlow may decode it
                via_rgb.append(False)
                continue
            except UnidentifiedImageError:
                raise _corrupt(path, "not a PNG, JPEG, GIF, BMP or WebP image: remove it from the folder") from None
            except (OSError, SyntaxError, ValueError) as e:
                raise _corrupt(path, e) from None
            try:
                via_rgb.append(decoded_via_rgb(kind, mode, channels))
            except ValueError as e:
                raise _corrupt(path, e) from None
    return via_rgb


def _folder(data_dir, *, image_size, channels, batch_size, validation_split, augment, seed):
    """Reads train/ and test/ folders, or one folder with validation and test held out.

    From train/ and test/ folders, `validation_split` of train/ is held out
    for validation, and test/'s class sub-folders are train/'s (some may be
    missing). From one folder, `validation_split` of its images is held out
    for validation and `max(validation_split, FOLDER_TEST_SPLIT)` for
    testing. The held-out images are the same whatever the seed, and those
    `keras.utils.image_dataset_from_directory` holds out with seed
    `FOLDER_SPLIT_SEED`; so are the pixels. Every image's header is checked
    before any training (`_check_images`).
    """
    if not tensorflow_available():
        raise _needs_tensorflow("folder", "reads images")
    import tensorflow as tf

    if data_dir is None or not Path(data_dir).is_dir():
        raise ValueError(
            "`--dataset folder` needs --data-dir, a folder with one sub-folder of "
            f"images per class (or train/ and test/ folders laid out so). Received: data_dir={data_dir!r}"
        )
    root = Path(data_dir)

    def refuse(reason):
        return ValueError(f"Could not read the image folder {str(root)!r}: {reason}. Received: data_dir={str(root)!r}")

    split_in_two = (root / "train").is_dir(), (root / "test").is_dir()
    if split_in_two[0] != split_in_two[1]:
        found, missing = ("train", "test") if split_in_two[0] else ("test", "train")
        raise refuse(
            f"it has a {found}/ folder but no {missing}/ folder: give it both, with the same class sub-folders, "
            f"or only the class sub-folders"
        )
    split_in_two = split_in_two[0]
    top = root / "train" if split_in_two else root
    where = "train/" if split_in_two else "it"
    names = _class_folders(top)
    if len(names) < 2:
        raise refuse(
            f"{where} needs one sub-folder of images per class, at least 2; found {len(names)}"
            + (f" ({', '.join(names)})" if names else "")
        )
    paths, labels = _image_files(top, names)
    if not paths:
        raise refuse(f"{where} holds no images ({', '.join(IMAGE_EXTENSIONS)}) in its class sub-folders")
    if split_in_two:
        unknown = [name for name in _class_folders(root / "test") if name not in names]
        if unknown:
            raise refuse(f"test/ has classes that train/ lacks: {', '.join(unknown)}")
        test_paths, test_labels = _image_files(root / "test", names)
        if not test_paths:
            raise refuse(f"test/ holds no images ({', '.join(IMAGE_EXTENSIONS)}) in its class sub-folders")
    via_rgb = _check_images(paths, channels)

    # Keras' order and split: the files shuffled with the split seed, the last
    # `int(share * count)` held out.
    order = np.arange(len(paths))
    np.random.RandomState(FOLDER_SPLIT_SEED).shuffle(order)
    share = validation_split if split_in_two else validation_split + max(validation_split, FOLDER_TEST_SPLIT)
    held = int(share * len(paths))
    if not split_in_two and held == 0:
        needed = len(paths)
        while int(share * needed) == 0:
            needed += 1
        raise refuse(
            f"its {len(paths)} images are too few to hold out {share:.0%} of them for "
            f"{'validation and ' if validation_split else ''}testing: at least {needed} are needed, "
            f"or give it train/ and test/ folders"
        )
    n_val = held if split_in_two else int(held * validation_split / share)
    splits = {
        "train": order[: len(order) - held],
        "validation": order[len(order) - held:][:n_val],
        "test": order[len(order) - held:][n_val:],
    }
    sources = {split: ([paths[i] for i in rows], [labels[i] for i in rows], [via_rgb[i] for i in rows])
               for split, rows in splits.items()}
    if split_in_two:
        sources["test"] = (test_paths, test_labels, _check_images(test_paths, channels))

    def decode(path, via_rgb):
        # Decoded and resized (bilinear) as image_dataset_from_directory does; rounded to uint8.
        image = decode_image(tf.io.read_file(path), channels, via_rgb)
        image = tf.image.resize(image, image_size, method="bilinear")
        image.set_shape((*image_size, channels))
        return tf.cast(tf.round(image), tf.uint8)

    def dataset(split):
        files, classes, rgb = sources[split]
        found = tf.data.Dataset.from_tensor_slices(
            (tf.constant(files, tf.string), tf.constant(classes, tf.int32), tf.constant(rgb, tf.bool))
        )
        if split == "train":  # as Keras shuffles its training subset
            found = found.shuffle(1024, seed=FOLDER_SPLIT_SEED)
        return found.map(lambda path, label, rgb: (decode(path, rgb), label), num_parallel_calls=tf.data.AUTOTUNE)

    counts = {split: len(source[0]) for split, source in sources.items()}
    *pipes, steps, plain = _pipelines(
        dataset("train"), dataset("validation"), dataset("test"),
        train_count=counts["train"], batch_size=batch_size, augment=augment, seed=seed,
    )
    return ImageData(
        *pipes, plain_train=plain, steps_per_epoch=steps, num_classes=len(names), class_names=names,
        image_shape=(*image_size, channels), counts=counts, source=f"image folder {str(root)!r}",
    )


@contextlib.contextmanager
def _quiet_tfds_logs():
    """Holds back tensorflow-datasets' warnings through absl, such as "Variant
    folder .../mnist/3.0.1 has no dataset_info.json" where nothing is prepared:
    the zoo's own message says what was tried."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _tfds(name, data_dir, *, typed, tried, batch_size, validation_split, augment, seed, image_size):
    """A tensorflow-datasets dataset; `typed` is the name as the user wrote it, for messages."""
    layout = RAW_LAYOUT.get(name)
    alternatives = [f"put the official files in DIR/{layout}/ and pass --data-dir DIR"] if layout else []
    alternatives += [f"use --dataset {name}:sample"] if f"{name}:sample" in SAMPLES else []
    hint = f" (or {', or '.join(alternatives)})" if alternatives else ""
    found = f"tried {'; '.join(tried)}, and " if tried else ""
    if not tensorflow_available():
        raise _needs_tensorflow(typed, f"{found}reads tensorflow-datasets", "tensorflow tensorflow-datasets", hint)
    import tensorflow as tf

    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ValueError(
            f"`--dataset {typed}` {found}reads tensorflow-datasets, which is not installed: "
            f"pip install tensorflow-datasets{hint}. Received: dataset={typed!r}"
        ) from None

    try:
        with _quiet_tfds_logs():
            builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises DatasetNotFoundError and others
        hint = did_you_mean(name, [*sorted(RAW_LAYOUT), *SAMPLES, "folder"], cutoff=0.6)
        if hint:
            # A slip in one of the zoo's names: tfds' reason ("Namespace mnist
            # not found" for "mnist:sampel") would only mislead.
            reason = ""
        else:
            # tfds' first line may be empty ("\nNamespace mnist not found...").
            line = next((line for line in str(e).splitlines() if line.strip()), "").strip().rstrip(". ")
            reason = one_line(line, 200)
        raise ValueError(
            f"Unknown dataset{f' ({reason})' if reason else ''}.{hint} The zoo reads "
            f"{', '.join(sorted(RAW_LAYOUT))}, {', '.join(SAMPLES)}, folder (with --data-dir DIR) or a "
            f"tensorflow-datasets name. Received: dataset={typed!r}"
        ) from None
    where = builder.data_dir
    with _quiet_tfds_logs():
        prepared = builder.is_prepared()
    if not prepared:
        tried.append(f"a prepared tensorflow-datasets copy in {where!r} (none)")
        if not network_available():
            host = ":".join(map(str, TFDS_HOST))
            tried.append(f"a tensorflow-datasets download (no network: {host} did not answer)")
            raise FileNotFoundError(_missing_message(name, data_dir, tried, typed))
        builder.download_and_prepare()
    info = builder.info
    features = info.features
    if "label" not in features or "image" not in features:
        raise ValueError(
            f"{name!r} is not an image-classification dataset (no 'image' and 'label' features). "
            f"Received: dataset={typed!r}"
        )
    splits = info.splits
    test_split = "test" if "test" in splits else ("validation" if "validation" in splits else None)
    if "train" not in splits or test_split is None:
        raise ValueError(f"{name!r} needs a train split and a test or validation split. Received: dataset={typed!r}")
    count = lambda split: int(splits[split].num_examples)  # noqa: E731
    # The first records are held out, as many as `_split_arrays` holds out;
    # tfds refuses an empty slice, so nothing held out is an empty dataset.
    n_val = int(round(count("train") * validation_split))
    read = lambda split: builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)  # noqa: E731
    train, test = read(f"train[{n_val}:]"), read(test_split)
    validation = read(f"train[:{n_val}]") if n_val else train.take(0)
    shape = features["image"].shape
    if image_size is not None or None in shape[:2]:
        if image_size is None:
            raise ValueError(f"{name!r} has images of varying size: pass an image size. Received: image_size=None")
        resize = lambda x, y: (tf.cast(tf.image.resize(x, image_size), tf.uint8), y)  # noqa: E731
        train, validation, test = train.map(resize), validation.map(resize), test.map(resize)
        shape = (*image_size, shape[-1])
    *pipes, steps, plain = _pipelines(
        train, validation, test, train_count=count("train") - n_val, batch_size=batch_size,
        augment=augment, seed=seed,
    )
    return ImageData(
        *pipes,
        plain_train=plain,
        steps_per_epoch=steps,
        num_classes=features["label"].num_classes,
        class_names=list(features["label"].names),
        image_shape=tuple(shape),
        counts={"train": count("train") - n_val, "validation": n_val, "test": count(test_split)},
        source=f"tensorflow-datasets {name!r} in {where!r}",
    )


def _missing_message(name, data_dir, tried, typed) -> str:
    layout = RAW_LAYOUT.get(name)
    hint = f"put the official files in DIR/{layout}/ and pass --data-dir DIR, " if layout else ""
    sample = f", or use --dataset {name}:sample" if f"{name}:sample" in SAMPLES else ""
    return (
        f"No data for {name!r}. Tried: {'; '.join(tried)}. To provide it: {hint}"
        f"prepare it with tensorflow-datasets on a machine with network access and copy its "
        f"data_dir{sample}. Received: dataset={typed!r}"
    )


def is_folder(dataset) -> bool:
    """Whether a `load_dataset` name reads an image folder: `"folder"`, in any case."""
    return isinstance(dataset, str) and dataset.lower() == "folder"


def load_dataset(
    dataset: str,
    data_dir=None,
    *,
    batch_size: int = 128,
    validation_split: float = 0.1,
    augment: str | None = None,
    image_size: tuple | None = None,
    channels: int = 3,
    seed: int | None = None,
) -> ImageData:
    """Loads an image-classification dataset as train, validation and test pipelines.

    Args:
        dataset: `"mnist:sample"`, `"cifar10:sample"`, `"folder"`, or a
            tensorflow-datasets name such as `"mnist"`, `"cifar10"`,
            `"fashion_mnist"`.
        data_dir: Where the data is: the folder for `"folder"`; for others a
            directory holding the official raw files (see `RAW_LAYOUT`) or
            used as tfds' `data_dir`. Defaults to None (tfds' default).
        batch_size: Batch size of all three pipelines. Defaults to 128.
        validation_split: Fraction of the training records held out for
            validation, the same ones whatever the seed; with 0, none
            (`validation` is empty). A single image folder also holds out
            `max(validation_split, FOLDER_TEST_SPLIT)` of its images for
            testing (see `_folder`). Defaults to 0.1.
        augment: `"digits"`, `"objects"` or None: augmentation applied to the
            training pipeline only (see `augmentation`). Defaults to None.
        image_size: `(height, width)` to resize to, two positive integers;
            required for folders and datasets of varying sizes. Defaults to
            None (keep the size).
        channels: For folders, 1 (grey), 3 (RGB) or 4 (RGBA); other
            datasets keep their own. Defaults to 3.
        seed: Seed for shuffling and augmentation, a non-negative integer.
            Defaults to None.

    Returns:
        An `ImageData`.

    Dataset names are read in any case (`"MNIST:sample"`, `"FOLDER"`).

    Raises:
        ValueError: For bad arguments or unreadable files.
        FileNotFoundError: When the data is nowhere to be found; the message
            names the sources tried and how to provide the data.

    Examples:

        >>> data = load_dataset("mnist:sample", batch_size=64)
        >>> data.image_shape, data.num_classes
        ((28, 28, 1), 10)
    """
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"`dataset` must be a dataset name. Received: dataset={dataset!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 0.5:
        raise ValueError(
            f"`validation_split` must be in [0, 0.5). Received: validation_split={validation_split!r}"
        )
    integer = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
    if image_size is not None:
        if not isinstance(image_size, (tuple, list)) or len(image_size) != 2 or not all(
            integer(side) and side > 0 for side in image_size
        ):
            raise ValueError(
                f"`image_size` must be (height, width), two positive integers, or None. "
                f"Received: image_size={image_size!r}"
            )
        image_size = tuple(int(side) for side in image_size)
    if not integer(channels) or channels < 1 or (is_folder(dataset) and channels not in (1, 3, 4)):
        raise ValueError(f"`channels` must be 1, 3 or 4. Received: channels={channels!r}")
    if seed is not None and (not integer(seed) or not 0 <= seed < 2**63):
        raise ValueError(f"`seed` must be a non-negative integer or None. Received: seed={seed!r}")
    if data_dir is not None and not Path(data_dir).exists():
        raise FileNotFoundError(f"The data directory does not exist. Received: data_dir={str(data_dir)!r}")
    common = dict(batch_size=batch_size, validation_split=validation_split, augment=augment, seed=seed)
    augmentation(augment)  # validate early, before any reading

    name = dataset.lower()
    if name in SAMPLES:
        train, test, names = read_sample(dataset)
        return _from_arrays(
            train, test, names, source=f"the {name.split(':')[0]} sample shipped with keras-zoo",
            image_size=image_size, **common,
        )
    if name == "folder":  # in any case, as the other names
        if image_size is None:
            raise ValueError("`--dataset folder` needs an image size. Received: image_size=None")
        return _folder(data_dir, image_size=image_size, channels=channels, **common)

    tried = []
    if name in RAW_LAYOUT and data_dir is not None:
        where = str(Path(data_dir) / RAW_LAYOUT[name])
        raw = read_raw(name, data_dir)
        if raw is not None:
            train, test, names = raw
            return _from_arrays(
                train, test, names, source=f"the official {name} files in {where!r}",
                image_size=image_size, **common,
            )
        paths, missing = _raw_files(name, data_dir)
        total = len(paths)
        found = f"{', '.join(missing)} missing, {total - len(missing)} of {total} found"
        tried.append(f"official raw files in {where!r} ({'none' if len(missing) == total else found})")
    return _tfds(name, data_dir, typed=dataset, tried=tried, image_size=image_size, **common)
