"""Image-classification data for every recipe, as batched `tf.data` pipelines.

`load_dataset` reads, in this order of preference:

- `mnist:sample`, `cifar10:sample`: real images shipped with the package
  (taken from the official files), for offline demos and tests;
- `folder`: an image folder with one sub-folder per class (validation and
  test records held out of it), or train/ and test/ folders laid out so,
  through `keras.utils.image_dataset_from_directory`;
- `mnist`, `cifar10`, `fashion_mnist`: the official raw files when
  `data_dir` holds them (`DIR/mnist/*-ubyte.gz`, IDX format;
  `DIR/cifar10/cifar-10-batches-py/`, the python pickles), whatever their
  record counts;
- any tensorflow-datasets image-classification dataset, already prepared in
  `data_dir` or downloaded by tfds when the network answers.

Images stay raw pixels (uint8, [0, 255]): the zoo's models hold their own
preprocessing. Labels are integers. Missing data or no network fails within
seconds, naming the sources tried.
"""

from __future__ import annotations

import dataclasses
import gzip
import pickle
import socket
import zipfile
from pathlib import Path

import numpy as np

SAMPLES_DIR = Path(__file__).with_name("samples")
SAMPLES = ("mnist:sample", "cifar10:sample")
# Where the raw official files live under a data directory, per dataset.
RAW_LAYOUT = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "cifar10": "cifar10/cifar-10-batches-py",
}
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
    except (OSError, EOFError) as e:
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
        images = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError, TypeError) as e:
        raise _corrupt(path, e) from None
    if len(images) != len(labels):
        raise _corrupt(path, f"{len(images)} images but {len(labels)} labels")
    return images.transpose(0, 2, 3, 1), labels


def read_raw(name: str, data_dir) -> tuple | None:
    """Reads the official raw files of `name` under `data_dir`, or None.

    Returns:
        `((x_train, y_train), (x_test, y_test), class_names)`, images as
        uint8 `(n, height, width, channels)`, or None when the files are not
        there.
    """
    folder = Path(data_dir) / RAW_LAYOUT[name]
    if name == "cifar10":
        files = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
        if not all(f.exists() for f in files):
            return None
        parts = [_read_cifar_batch(f) for f in files]
        x_train = np.concatenate([p[0] for p in parts[:5]])
        y_train = np.concatenate([p[1] for p in parts[:5]])
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        return (x_train, y_train), parts[5], names

    def find(stem):
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.exists():
                return candidate
        return None

    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [find(s) for s in stems]
    if not all(paths):
        return None
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    for images, labels, path in ((x_train, y_train, paths[1]), (x_test, y_test, paths[3])):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise _corrupt(path, f"{len(labels)} labels for images of shape {images.shape}")
    names = [str(i) for i in range(10)] if name == "mnist" else [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
    ]
    return (x_train[..., None], y_train.astype(np.int64)), (x_test[..., None], y_test.astype(np.int64)), names


def read_sample(name: str):
    """Reads a sample shipped with the package: `mnist:sample` or `cifar10:sample`."""
    path = SAMPLES_DIR / f"{name.split(':')[0]}.npz"
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
    any order of parallel calls.

    Args:
        kind: `"digits"` (rotations of up to 10 degrees, zooms of up to 10 %,
            shifts of up to 8 % of the side: a digit flipped is another
            symbol), `"objects"` (horizontal flips and whole-pixel shifts of up
            to 1/16 of the side, reflected borders), or None. See
            `AUGMENTATIONS`.

    Returns:
        `augment(images, seed)`, mapping a float32 batch `(n, h, w, c)` and a
        stateless seed (two integers) to an augmented batch; None for None.

    Example:

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


def random_affine(images, seed, *, rotation=0.0, zoom=0.0, shift=0.0, flip=False, whole_pixels=False,
                  interpolation="bilinear", fill_mode="constant"):
    """Warps each image of a batch by its own random affine transform.

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
    n = shape[0]
    height, width = tf.cast(shape[1], "float32"), tf.cast(shape[2], "float32")
    u = tf.random.stateless_uniform([n, 5], seed=seed, minval=-1.0, maxval=1.0)
    angle = u[:, 0] * (rotation * np.pi / 180)
    scale = 1.0 + u[:, 1] * zoom
    tx, ty = u[:, 2] * shift * width, u[:, 3] * shift * height
    if whole_pixels:
        tx, ty = tf.round(tx), tf.round(ty)
    mirror = tf.where(u[:, 4] < 0, -1.0, 1.0) if flip else tf.ones_like(angle)
    # Maps each output pixel to where it is read in the input: rotate and zoom
    # about the centre, mirror, shift.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1, b0, b1 = mirror * cos, -sin, mirror * sin, cos
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a2 = cx - a0 * cx - a1 * cy + tx
    b2 = cy - b0 * cx - b1 * cy + ty
    zeros = tf.zeros_like(a0)
    transform = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    # TensorFlow's op, which `keras.ops.image.affine_transform` calls on its
    # TensorFlow backend: inside tf.data the Keras op would run on the
    # configured backend (JAX, PyTorch), which cannot take graph tensors.
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transform, output_shape=shape[1:3], fill_value=0.0,
        interpolation=interpolation.upper(), fill_mode=fill_mode.upper(),
    )
    return tf.ensure_shape(warped, images.shape)


def _pipelines(train, validation, test, *, train_count, batch_size, augment, seed):
    """Batched, cached, prefetched pipelines; augmentation on train only.

    The training pipeline drops each epoch's last partial batch (reshuffled,
    every record is still seen): a batch of another shape makes Keras trace
    its training step again, which costs seconds an epoch on a CPU.

    Returns:
        `(train, validation, test, steps_per_epoch)`.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    drop = train_count >= batch_size
    train = train.cache().shuffle(
        max(train_count, 1), seed=seed, reshuffle_each_iteration=True
    ).batch(batch_size, drop_remainder=drop)
    augment = augmentation(augment)
    if augment is not None:
        # Stateless seeds, one pair per batch, new each epoch.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        train = tf.data.Dataset.zip(train, seeds).map(
            lambda batch, s: (augment(tf.cast(batch[0], "float32"), s), batch[1]),
            num_parallel_calls=autotune,
        )
    finish = lambda d: d.cache().batch(batch_size).prefetch(autotune)  # noqa: E731
    steps = train_count // batch_size if drop else 1
    return train.prefetch(autotune), finish(validation), finish(test), steps


def _split_arrays(x, y, validation_split):
    # A fixed permutation: the same records are held out whatever the seed.
    order = np.random.default_rng(0).permutation(len(x))
    n_val = int(round(len(x) * validation_split))
    return (x[order[n_val:]], y[order[n_val:]]), (x[order[:n_val]], y[order[:n_val]])


def _from_arrays(train, test, names, *, source, batch_size, validation_split, augment, seed, image_size):
    import tensorflow as tf

    (x_train, y_train), (x_val, y_val) = _split_arrays(*train, validation_split)
    x_test, y_test = test
    if image_size is not None and tuple(image_size) != x_train.shape[1:3]:
        resize = lambda x: tf.cast(tf.image.resize(x, image_size), tf.uint8).numpy()  # noqa: E731
        x_train, x_val, x_test = resize(x_train), resize(x_val), resize(x_test)
    slices = tf.data.Dataset.from_tensor_slices
    *pipes, steps = _pipelines(
        slices((x_train, y_train)), slices((x_val, y_val)), slices((x_test, y_test)),
        train_count=len(x_train), batch_size=batch_size, augment=augment, seed=seed,
    )
    return ImageData(
        *pipes,
        steps_per_epoch=steps,
        num_classes=len(names),
        class_names=list(names),
        image_shape=tuple(x_train.shape[1:]),
        counts={"train": len(x_train), "validation": len(x_val), "test": len(x_test)},
        source=source,
    )


def _folder(data_dir, *, image_size, channels, batch_size, validation_split, augment, seed):
    """Reads train/ and test/ folders, or one folder with validation and test held out.

    From train/ and test/ folders, `validation_split` of train/ is held out
    for validation. From one folder, `validation_split` of its images is held
    out for validation and `max(validation_split, FOLDER_TEST_SPLIT)` for
    testing. The held-out images are the same whatever the seed.
    """
    import keras
    import tensorflow as tf

    if data_dir is None or not Path(data_dir).is_dir():
        raise ValueError(
            "`--dataset folder` needs --data-dir, a folder with one sub-folder of "
            f"images per class (or train/ and test/ folders laid out so). Received: data_dir={data_dir!r}"
        )
    root = Path(data_dir)
    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[channels]

    def read(folder, held=0.0, shuffle=True):
        # Keras refuses a validation_split of 0: nothing held out is an empty
        # dataset of the same element spec.
        split = {"validation_split": held, "subset": "both"} if held else {}
        found = keras.utils.image_dataset_from_directory(
            folder, labels="inferred", label_mode="int", color_mode=color_mode, image_size=image_size,
            batch_size=None, shuffle=shuffle, seed=FOLDER_SPLIT_SEED, verbose=False, **split,
        )
        return found if held else (found, found.take(0))

    try:
        if (root / "train").is_dir() and (root / "test").is_dir():
            train, validation = read(root / "train", validation_split)
            test, _ = read(root / "test", shuffle=False)
        else:
            test_split = max(validation_split, FOLDER_TEST_SPLIT)
            train, held = read(root, validation_split + test_split)
            n_val = int(int(held.cardinality()) * validation_split / (validation_split + test_split))
            validation, test = held.take(n_val), held.skip(n_val)
    except ValueError as e:
        raise ValueError(f"Could not read the image folder {str(root)!r}: {e}") from None
    names = train.class_names
    counts = {
        "train": len(train.file_paths),
        "validation": int(validation.cardinality()),
        "test": int(test.cardinality()),
    }
    cast = lambda x, y: (tf.cast(tf.round(x), tf.uint8), y)  # noqa: E731
    *pipes, steps = _pipelines(
        train.map(cast), validation.map(cast), test.map(cast),
        train_count=counts["train"], batch_size=batch_size, augment=augment, seed=seed,
    )
    return ImageData(
        *pipes, steps_per_epoch=steps, num_classes=len(names), class_names=names,
        image_shape=(*image_size, channels), counts=counts, source=f"image folder {str(root)!r}",
    )


def _tfds(name, data_dir, *, tried, batch_size, validation_split, augment, seed, image_size):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises DatasetNotFoundError and others
        reason = str(e).split("\n")[0]
        raise ValueError(f"Unknown dataset: {reason}. Received: dataset={name!r}") from None
    where = builder.data_dir
    if not builder.is_prepared():
        tried.append(f"a prepared tensorflow-datasets copy in {where!r} (none)")
        if not network_available():
            host = ":".join(map(str, TFDS_HOST))
            tried.append(f"a tensorflow-datasets download (no network: {host} did not answer)")
            raise FileNotFoundError(_missing_message(name, data_dir, tried))
        builder.download_and_prepare()
    info = builder.info
    features = info.features
    if "label" not in features or "image" not in features:
        raise ValueError(
            f"{name!r} is not an image-classification dataset (no 'image' and 'label' features). "
            f"Received: dataset={name!r}"
        )
    splits = info.splits
    test_split = "test" if "test" in splits else ("validation" if "validation" in splits else None)
    if "train" not in splits or test_split is None:
        raise ValueError(f"{name!r} needs a train split and a test or validation split. Received: dataset={name!r}")
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
            raise ValueError(f"{name!r} has images of varying size: pass an image size.")
        resize = lambda x, y: (tf.cast(tf.image.resize(x, image_size), tf.uint8), y)  # noqa: E731
        train, validation, test = train.map(resize), validation.map(resize), test.map(resize)
        shape = (*image_size, shape[-1])
    *pipes, steps = _pipelines(
        train, validation, test, train_count=count("train") - n_val, batch_size=batch_size,
        augment=augment, seed=seed,
    )
    return ImageData(
        *pipes,
        steps_per_epoch=steps,
        num_classes=features["label"].num_classes,
        class_names=list(features["label"].names),
        image_shape=tuple(shape),
        counts={"train": count("train") - n_val, "validation": n_val, "test": count(test_split)},
        source=f"tensorflow-datasets {name!r} in {where!r}",
    )


def _missing_message(name, data_dir, tried) -> str:
    layout = RAW_LAYOUT.get(name)
    hint = f"put the official files in DIR/{layout}/ and pass --data-dir DIR, " if layout else ""
    sample = f", or use --dataset {name}:sample" if f"{name}:sample" in SAMPLES else ""
    return (
        f"No data for {name!r}. Tried: {'; '.join(tried)}. To provide it: {hint}"
        f"prepare it with tensorflow-datasets on a machine with network access and copy its "
        f"data_dir{sample}."
    )


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
        image_size: `(height, width)` to resize to; required for folders and
            datasets of varying sizes. Defaults to None (keep the size).
        channels: For folders, 1 (grey), 3 (RGB) or 4. Defaults to 3.
        seed: Seed for shuffling and augmentation. Defaults to None.

    Returns:
        An `ImageData`.

    Raises:
        ValueError: For bad arguments or unreadable files.
        FileNotFoundError: When the data is nowhere to be found; the message
            names the sources tried and how to provide the data.

    Example:

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
    if data_dir is not None and not Path(data_dir).exists():
        raise FileNotFoundError(f"The data directory does not exist. Received: data_dir={str(data_dir)!r}")
    common = dict(batch_size=batch_size, validation_split=validation_split, augment=augment, seed=seed)
    augmentation(augment)  # validate early, before any reading

    if dataset in SAMPLES:
        train, test, names = read_sample(dataset)
        return _from_arrays(
            train, test, names, source=f"the {dataset.split(':')[0]} sample shipped with keras-zoo",
            image_size=image_size, **common,
        )
    if dataset == "folder":
        if image_size is None:
            raise ValueError("`--dataset folder` needs an image size. Received: image_size=None")
        return _folder(data_dir, image_size=tuple(image_size), channels=channels, **common)

    name = dataset.lower()
    tried = []
    if name in RAW_LAYOUT and data_dir is not None:
        raw = read_raw(name, data_dir)
        where = str(Path(data_dir) / RAW_LAYOUT[name])
        if raw is not None:
            train, test, names = raw
            return _from_arrays(
                train, test, names, source=f"the official {name} files in {where!r}",
                image_size=image_size, **common,
            )
        tried.append(f"official raw files in {where!r} (none)")
    return _tfds(name, data_dir, tried=tried, image_size=image_size, **common)
