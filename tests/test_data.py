"""Data loading: samples, official raw files, tfds, image folders, failures."""

import gzip
import hashlib
import json
import os
import pickle
import re
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from test_cli import run

from zoo import data, training
from zoo.data import load_dataset, read_idx, read_raw

# The validation splits the recipes train with: 0.0 (the digits and
# cifar10_net recipes, and every `zoo export` calibration) and 0.1.
RECIPE_SPLITS = sorted(
    {r.validation_split for r in training.RECIPES.values()}
    | {r.validation_split for r, _ in training.FINETUNE_RECIPES.values()}
)
DIGITS = tuple(str(i) for i in range(10))
TINY_TFDS = "zoo_tiny_digits"


def _sample(name):
    return data.read_sample(f"{name}:sample")


def _write_idx(path, array, compress=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_files(root, n_train=300, n_test=100, compress=True):
    """The official MNIST layout under `root/mnist`, from the shipped sample."""
    (x, y), (xt, yt), _ = _sample("mnist")
    folder = root / "mnist"
    folder.mkdir(parents=True)
    suffix = ".gz" if compress else ""
    for stem, array in [
        ("train-images-idx3-ubyte", x[:n_train, ..., 0]), ("train-labels-idx1-ubyte", y[:n_train]),
        ("t10k-images-idx3-ubyte", xt[:n_test, ..., 0]), ("t10k-labels-idx1-ubyte", yt[:n_test]),
    ]:
        _write_idx(folder / (stem + suffix), array, compress)
    return x[:n_train], y[:n_train]


def write_cifar_files(root, per_batch=40, n_test=30):
    """The official "python version" layout, pickled as the originals are."""
    (x, y), (xt, yt), _ = _sample("cifar10")
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def dump(name, images, labels):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in labels],
            b"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1),
            b"filenames": [f"{i}.png".encode() for i in range(len(images))],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)

    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        dump(f"data_batch_{i + 1}", x[part], y[part])
    dump("test_batch", xt[:n_test], yt[:n_test])
    return x[: 5 * per_batch], y[: 5 * per_batch]


class TestRawFiles:
    @pytest.mark.parametrize("compress", [True, False])
    def test_mnist(self, tmp_path, compress):
        x, y = write_mnist_files(tmp_path, compress=compress)
        (x_train, y_train), (x_test, y_test), names = read_raw("mnist", tmp_path)
        np.testing.assert_array_equal(x_train, x)
        np.testing.assert_array_equal(y_train, y)
        assert x_test.shape == (100, 28, 28, 1) and names[3] == "3"

    def test_cifar10(self, tmp_path):
        x, y = write_cifar_files(tmp_path)
        (x_train, y_train), (x_test, y_test), names = read_raw("cifar10", tmp_path)
        np.testing.assert_array_equal(x_train, x)
        np.testing.assert_array_equal(y_train, y)
        assert x_test.shape == (30, 32, 32, 3) and names[0] == "airplane"

    def test_missing_files_read_as_none(self, tmp_path):
        assert read_raw("mnist", tmp_path) is None and read_raw("cifar10", tmp_path) is None

    def test_corrupt_idx(self, tmp_path):
        path = tmp_path / "x-idx3-ubyte"
        path.write_bytes(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") * 3 + b"short")
        with pytest.raises(ValueError, match=str(path)):
            read_idx(path)
        path.write_bytes(b"PK\x03\x04 not idx")
        with pytest.raises(ValueError, match="not an IDX file"):
            read_idx(path)
        gz = tmp_path / "y.gz"
        gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"12345")[:-6])
        with pytest.raises(ValueError, match=str(gz)):
            read_idx(gz)

    def test_pickle_that_runs_code_is_refused(self, tmp_path):
        write_cifar_files(tmp_path)
        evil = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3"

        class Payload:
            def __reduce__(self):
                return (os.system, ("touch " + str(tmp_path / "pwned"),))

        evil.write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}))
        with pytest.raises(ValueError, match="refusing to load") as info:
            read_raw("cifar10", tmp_path)
        assert str(evil) in str(info.value)
        assert not (tmp_path / "pwned").exists()

    def test_truncated_pickle(self, tmp_path):
        write_cifar_files(tmp_path)
        batch = tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch"
        batch.write_bytes(batch.read_bytes()[:1000])
        with pytest.raises(ValueError, match="test_batch"):
            read_raw("cifar10", tmp_path)

    def test_corrupt_deflate_stream(self, tmp_path):
        # A gzip header, then bytes that are no deflate stream: zlib.error, not OSError.
        path = tmp_path / "train-labels-idx1-ubyte.gz"
        path.write_bytes(b"\x1f\x8b\x08\x00" + b"x" * 100)
        with pytest.raises(ValueError, match=f"^Could not read {re.escape(repr(str(path)))}: .*decompressing"):
            read_idx(path)

    @pytest.mark.parametrize("stem,record", [("train-labels-idx1-ubyte", 3), ("t10k-labels-idx1-ubyte", 99)])
    def test_mnist_labels_outside_the_classes(self, tmp_path, stem, record):
        write_mnist_files(tmp_path)
        path = tmp_path / "mnist" / f"{stem}.gz"
        labels = read_idx(path).copy()
        labels[record] = 200
        _write_idx(path, labels)
        with pytest.raises(ValueError) as info:
            read_raw("mnist", tmp_path)
        assert str(info.value) == (
            f"Could not read {str(path)!r}: labels must be in [0, 10); record {record} has label 200 "
            f"(1 of {len(labels)} out of range)"
        )

    @pytest.mark.parametrize(
        "key,change,reason",
        [
            (b"labels", lambda v: [10] + v[1:], "labels must be in [0, 10); record 0 has label 10 (1 of 30"),
            (b"labels", lambda v: v[:-1] + [-1], "labels must be in [0, 10); record 29 has label -1 (1 of 30"),
            (b"labels", lambda v: np.zeros((len(v), 2), "int64"),
             "the labels must be a list of integers; found int64 of shape (30, 2)"),
            (b"data", lambda v: v.astype("float64") * 300,
             "the data must be rows of 3072 pixel bytes; found float64 of shape (30, 3072)"),
            (b"data", lambda v: v.astype("int64") + 256, "pixel values must be in [0, 255]"),
        ],
        ids=["label 10", "label -1", "2-D labels", "float pixels", "pixels over 255"],
    )
    def test_cifar_batches_are_checked(self, tmp_path, key, change, reason):
        write_cifar_files(tmp_path)
        path = tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch"
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        batch[key] = change(batch[key])
        with open(path, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        with pytest.raises(ValueError) as info:
            read_raw("cifar10", tmp_path)
        assert str(info.value).startswith(f"Could not read {str(path)!r}: {reason}")

    def test_test_images_of_another_size(self, tmp_path):
        # Found while reading, not after an epoch of training.
        write_mnist_files(tmp_path)
        path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
        _write_idx(path, read_idx(path)[:, :, :27])
        with pytest.raises(ValueError) as info:
            read_raw("mnist", tmp_path)
        assert str(info.value) == f"Could not read {str(path)!r}: images are 28x27, the training images 28x28"


class TestLoadDataset:
    def test_a_missing_or_broken_sample_is_named(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(data, "SAMPLES_DIR", tmp_path)
        code, stdout, err = run(capsys, "train", "mnist_convnet", "--dataset", "mnist:sample", "--out",
                                str(tmp_path / "run"))
        assert code == 1 and stdout == ""
        assert "mnist:sample data shipped with keras-zoo is missing" in err and "--force-reinstall" in err
        assert "Errno" not in err and "Received: dataset='mnist:sample'" in err
        (tmp_path / "cifar10.npz").write_bytes(b"PK\x03\x04 not a zip")
        with pytest.raises(ValueError, match="Could not read .*cifar10.npz"):
            data.read_sample("cifar10:sample")
        assert not (tmp_path / "run").exists()

    def test_mnist_sample(self):
        ds = load_dataset("mnist:sample", batch_size=64, augment="digits", seed=1)
        assert ds.image_shape == (28, 28, 1) and ds.num_classes == 10
        assert ds.counts == {"train": 3600, "validation": 400, "test": 1000}
        x, y = next(iter(ds.train))
        assert x.shape == (64, 28, 28, 1) and x.dtype == "float32" and y.dtype == "int64"
        assert 0 <= float(np.min(x)) and float(np.max(x)) <= 255
        xt, _ = next(iter(ds.test))
        assert xt.dtype == "uint8"  # no augmentation outside training
        np.testing.assert_array_equal(np.asarray(xt), _sample("mnist")[1][0][:64])
        # Full batches only, reshuffled each epoch: 56 of 64, the 16 left over vary.
        assert ds.steps_per_epoch == 56 and [int(b[1].shape[0]) for b in ds.train] == [64] * 56

    def test_validation_split_does_not_move_with_the_seed(self):
        labels = [
            np.concatenate([np.asarray(y) for _, y in load_dataset("cifar10:sample", seed=s).validation])
            for s in (1, 2)
        ]
        np.testing.assert_array_equal(*labels)

    def test_raw_files_are_preferred(self, tmp_path):
        write_cifar_files(tmp_path)
        ds = load_dataset("cifar10", tmp_path, batch_size=32, validation_split=0.2, augment="objects")
        assert ds.counts == {"train": 160, "validation": 40, "test": 30}
        assert "official cifar10 files" in ds.source

    def test_image_size_resizes(self):
        ds = load_dataset("mnist:sample", image_size=(32, 32))
        assert ds.image_shape == (32, 32, 1)
        assert next(iter(ds.test))[0].shape[1:] == (32, 32, 1)

    def test_missing_data_fails_fast_offline(self, tmp_path, monkeypatch):
        monkeypatch.setattr(data, "TFDS_HOST", ("127.0.0.1", 9))  # refuses, as offline
        start = time.monotonic()
        with pytest.raises(FileNotFoundError) as info:
            load_dataset("cifar10", tmp_path)
        assert time.monotonic() - start < 10
        message = str(info.value)
        for fragment in ("official raw files", "prepared tensorflow-datasets copy", "no network",
                         "cifar10/cifar-10-batches-py", "--dataset cifar10:sample"):
            assert fragment in message, fragment
        assert "\n" not in message

    @pytest.mark.parametrize(
        "kwargs,received",
        [
            ({"dataset": ""}, "dataset=''"),
            ({"dataset": "mnist:sample", "batch_size": 0}, "batch_size=0"),
            ({"dataset": "mnist:sample", "validation_split": 0.7}, "validation_split=0.7"),
            ({"dataset": "mnist:sample", "augment": "wild"}, "augment='wild'"),
            ({"dataset": "no_such_dataset_xyz"}, "dataset='no_such_dataset_xyz'"),
            ({"dataset": "folder", "image_size": (8, 8)}, "data_dir=None"),
            ({"dataset": "mnist:sample", "image_size": (0, 28)}, "image_size=(0, 28)"),
            ({"dataset": "mnist:sample", "image_size": 28}, "image_size=28"),
            ({"dataset": "folder", "image_size": (-8, 8)}, "image_size=(-8, 8)"),
            ({"dataset": "folder", "image_size": (8, 8), "channels": 2}, "channels=2"),
            ({"dataset": "mnist:sample", "seed": "x"}, "seed='x'"),
            ({"dataset": "mnist:sample", "seed": 1.5}, "seed=1.5"),
        ],
    )
    def test_bad_arguments(self, kwargs, received):
        with pytest.raises(ValueError, match=received.replace("(", r"\(").replace(")", r"\)")):
            load_dataset(**kwargs)

    @pytest.mark.parametrize("name", ["no_such_dataset_xyz", "folder:/tmp", "No_Such:Sample"])
    def test_an_unknown_dataset_says_what_is_read(self, name):
        with pytest.raises(ValueError) as info:
            load_dataset(name)
        message = str(info.value)
        for fragment in ("mnist:sample", "folder (with --data-dir DIR)", "tensorflow-datasets name",
                         f"Received: dataset={name!r}"):  # as typed
            assert fragment in message, fragment
        assert ".." not in message and "\n" not in message and "()" not in message

    @pytest.mark.parametrize("name,close", [("mnist:sampel", "'mnist:sample'"), ("Cifar10:Smaple", "'cifar10:sample'"),
                                            ("mnsit", "'mnist'"), ("fashion_minst", "'fashion_mnist'")])
    def test_a_slip_in_a_zoo_dataset_name_names_it(self, name, close):
        """Close names among the zoo's own, not tensorflow-datasets' "Namespace mnist not found"."""
        with pytest.raises(ValueError) as info:
            load_dataset(name)
        message = str(info.value)
        assert f"Did you mean {close}" in message and f"Received: dataset={name!r}" in message
        assert "Namespace" not in message and "\n" not in message

    def test_no_tensorflow_datasets_warning_precedes_the_missing_data_error(self, tmp_path, monkeypatch, caplog):
        """tfds logs through absl that an unprepared dataset folder "has no dataset_info.json":
        the zoo's one line says what was tried."""
        import logging

        monkeypatch.setattr(data, "TFDS_HOST", ("127.0.0.1", 9))  # refuses, as offline
        (tmp_path / "mnist" / "3.0.1").mkdir(parents=True)  # what an interrupted tfds download leaves
        with caplog.at_level(logging.WARNING), pytest.raises(FileNotFoundError) as info:
            load_dataset("mnist", tmp_path)
        assert [r.getMessage() for r in caplog.records if r.name == "absl"] == []
        assert str(info.value).endswith("Received: dataset='mnist'")

    def test_names_in_any_case(self):
        ds = load_dataset("MNIST:Sample", batch_size=64)
        assert ds.image_shape == (28, 28, 1) and ds.source == "the mnist sample shipped with keras-zoo"

    @pytest.mark.parametrize("name,missing,expected", [
        ("mnist", "t10k-labels-idx1-ubyte.gz", "(t10k-labels-idx1-ubyte[.gz] missing, 3 of 4 found)"),
        ("cifar10", "data_batch_3", "(data_batch_3 missing, 5 of 6 found)"),
    ])
    def test_a_missing_official_file_is_named(self, tmp_path, monkeypatch, name, missing, expected):
        monkeypatch.setattr(data, "TFDS_HOST", ("127.0.0.1", 9))  # refuses, as offline
        (write_mnist_files if name == "mnist" else write_cifar_files)(tmp_path)
        (tmp_path / data.RAW_LAYOUT[name] / missing).unlink()
        with pytest.raises(FileNotFoundError) as info:
            load_dataset(name, tmp_path)
        assert f"official raw files in {str(tmp_path / data.RAW_LAYOUT[name])!r} {expected}" in str(info.value)

    def test_missing_data_dir(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_dataset("mnist", tmp_path / "nowhere")


class ZooTinyDigits(tfds.core.GeneratorBasedBuilder):
    """A tfds dataset prepared from the shipped sample: tfds, with no download."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(28, 28, 1)), "label": tfds.features.ClassLabel(num_classes=10)}
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        (x, y), (xt, yt), _ = _sample("mnist")
        return {"train": self._generate_examples(x[:600], y[:600]), "test": self._generate_examples(xt[:100], yt[:100])}

    def _generate_examples(self, images, labels):
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image, "label": int(label)}


def prepare_tiny_digits(data_dir):
    """Prepares `TINY_TFDS` (600 train, 100 test digits) in `data_dir`, offline."""
    ZooTinyDigits(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
    return prepare_tiny_digits(tmp_path_factory.mktemp("tfds"))


@pytest.mark.parametrize("validation_split,held", [(0.0, 0), (0.1, 60)])
def test_tensorflow_datasets(tiny_tfds, monkeypatch, validation_split, held):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: pytest.fail("no network needed"))
    ds = load_dataset(TINY_TFDS, tiny_tfds, batch_size=16, validation_split=validation_split)
    assert ds.counts == {"train": 600 - held, "validation": held, "test": 100}
    assert ds.image_shape == (28, 28, 1) and ds.num_classes == 10
    full_batches = (600 - held) // 16 * 16
    assert sum(int(y.shape[0]) for _, y in ds.train) == full_batches == 16 * ds.steps_per_epoch
    assert "tensorflow-datasets 'zoo_tiny_digits'" in ds.source


def write_image_folder(root, classes=("cat", "dog", "frog"), per_class=12, mode="RGB", sample="cifar10",
                       split="train"):
    """PNG images of a shipped sample's split, one sub-folder per class."""
    train, test, names = _sample(sample)
    x, y = train if split == "train" else test
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True)
        picks = x[y == names.index(name)][:per_class]
        for i, image in enumerate(picks):
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).convert(mode).save(
                folder / f"{i}.png"
            )
    return root


def write_digit_folder(root, per_class=10, test_per_class=0):
    """Grey PNG digits: one folder of class sub-folders, or with
    `test_per_class`, train/ and test/ folders (test from the sample's test split)."""
    write_image_folder(root / "train" if test_per_class else root, DIGITS, per_class, "L", "mnist")
    if test_per_class:
        write_image_folder(root / "test", DIGITS, test_per_class, "L", "mnist", split="test")
    return root


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory):
    """`{layout: folder}`: 100 grey digits in one folder; 100 + 20 in train/ and test/."""
    root = tmp_path_factory.mktemp("digits")
    return {"folder": write_digit_folder(root / "one"), "train/ and test/": write_digit_folder(root / "two", 10, 2)}


def _source(kind, tmp_path, request):
    """`(dataset, data_dir, load_dataset kwargs)` of a kind of data source."""
    if kind == "sample":
        return "mnist:sample", None, {}
    if kind in ("mnist", "cifar10"):
        (write_mnist_files if kind == "mnist" else write_cifar_files)(tmp_path)
        return kind, tmp_path, {}
    if kind == "tfds":
        return TINY_TFDS, request.getfixturevalue("tiny_tfds"), {}
    return "folder", request.getfixturevalue("digit_folders")[kind], {"image_size": (28, 28), "channels": 1}


def _records(pipeline):
    return [hashlib.sha1(np.asarray(x).tobytes()).hexdigest() for batch, _ in pipeline for x in batch]


@pytest.mark.parametrize("validation_split", RECIPE_SPLITS)
@pytest.mark.parametrize("kind", ["sample", "mnist", "cifar10", "folder", "train/ and test/", "tfds"])
def test_every_source_yields_the_counts_it_reports(kind, validation_split, tmp_path, request):
    dataset, data_dir, kwargs = _source(kind, tmp_path, request)
    # A batch larger than any split: the training pipeline keeps its one partial batch.
    ds = load_dataset(dataset, data_dir, batch_size=10_000, validation_split=validation_split, **kwargs)
    records = {split: _records(getattr(ds, split)) for split in ("train", "validation", "test")}
    assert {split: len(r) for split, r in records.items()} == ds.counts
    assert (ds.counts["validation"] == 0) == (validation_split == 0) and ds.counts["test"] > 0
    assert ds.validation.element_spec == ds.test.element_spec
    # Without tf.data's autotuner, which delayed the start of epochs (zoo.data._pipelines),
    # also once mapped to the one-hot labels that training reads.
    for split in ("train", "validation", "test"):
        pipeline = getattr(ds, split)
        assert pipeline.options().autotune.enabled is False
        assert data.one_hot(pipeline, 10).options().autotune.enabled is False
    if kind == "folder":  # the three splits share the folder out: nothing twice, nothing lost
        assert len(set(sum(records.values(), []))) == sum(ds.counts.values()) == 100


def test_plain_training_batches_share_the_training_cache():
    """`plain_train` (zoo.data._pipelines) holds the training records in order,
    read from the cache that training filled, not decoded a second time."""
    import tensorflow as tf

    reads = []

    def decode(i):
        reads.append(int(i))
        return np.full((2, 2, 1), i, "uint8")

    source = tf.data.Dataset.range(10).map(
        lambda i: (tf.numpy_function(decode, [i], tf.uint8, stateful=True), i)
    )
    source = source.map(lambda x, y: (tf.ensure_shape(x, (2, 2, 1)), y))
    train, _, _, steps, plain = data._pipelines(
        source, source.take(2), source.take(2), train_count=10, batch_size=4, augment=None, seed=1
    )
    trained = [int(y) for _, labels in train for y in labels]  # two full batches, shuffled
    assert steps == 2 and len(set(trained)) == len(trained) == 8
    assert len(reads) == 10  # the epoch read each record once, into the cache
    assert [int(x[0, 0, 0]) for batch, _ in plain for x in batch] == list(range(10))
    assert len(reads) == 10  # the plain batches came from the cache
    assert plain.options().autotune.enabled is False


@pytest.mark.parametrize("validation_split", RECIPE_SPLITS)
def test_folder_holds_out_the_same_records_whatever_the_seed(digit_folders, validation_split):
    held = [
        [sorted(_records(getattr(ds, split))) for split in ("validation", "test")]
        for ds in (
            load_dataset("folder", digit_folders["folder"], image_size=(28, 28), channels=1,
                         validation_split=validation_split, seed=seed)
            for seed in (None, 1, 2)
        )
    ]
    assert held[0] == held[1] == held[2]


@pytest.mark.parametrize("validation_split", RECIPE_SPLITS)
@pytest.mark.parametrize("kind", ["folder", "train/ and test/"])
def test_folder_records_are_those_keras_reads(digit_folders, kind, validation_split):
    """zoo.data lists a folder's images itself, yet holds out the ones that
    `keras.utils.image_dataset_from_directory` held out, with the same pixels."""
    import keras

    root = digit_folders[kind]
    ds = load_dataset("folder", root, image_size=(28, 28), channels=1, validation_split=validation_split, batch_size=7)

    def keras_read(folder, held, shuffle=True):
        split = {"validation_split": held, "subset": "both"} if held else {}
        found = keras.utils.image_dataset_from_directory(
            folder, label_mode="int", color_mode="grayscale", image_size=(28, 28), batch_size=None,
            shuffle=shuffle, seed=data.FOLDER_SPLIT_SEED, verbose=False, **split,
        )
        return found if held else (found, None)

    def records(pipeline, batched=True):
        pairs = ((x, y) for batch, labels in pipeline for x, y in zip(batch, labels)) if batched else pipeline
        return [(np.round(np.asarray(x)).astype("uint8").tobytes(), int(y)) for x, y in pairs]

    if kind == "folder":
        train, held = keras_read(root, validation_split + max(validation_split, data.FOLDER_TEST_SPLIT))
        theirs = records(held, batched=False)
        assert records(ds.validation) + records(ds.test) == theirs
        assert ds.counts["test"] == len(theirs) - ds.counts["validation"]
    else:
        train, held = keras_read(root / "train", validation_split)
        assert records(ds.validation) == (records(held, batched=False) if held is not None else [])
        assert records(ds.test) == records(keras_read(root / "test", 0, shuffle=False)[0], batched=False)
    assert sorted(records(ds.plain_train)) == sorted(records(train, batched=False))


@pytest.mark.parametrize("kind", ["folder", "tfds"])
def test_cli_trains_with_nothing_held_out(kind, capsys, tmp_path, request):
    """mnist_convnet's recipe holds out nothing for validation (validation_split=0)."""
    dataset, data_dir, _ = _source(kind, tmp_path, request)
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "mnist_convnet", "--dataset", dataset, "--data-dir", str(data_dir),
                            "--epochs", "1", "--out", str(out))
    assert code == 0, err
    records = json.loads((out / "summary.json").read_text())["records"]
    assert records["validation"] == 0 and records["test"] == (10 if kind == "folder" else 100)


class TestFolder:
    def test_one_folder_is_split_three_ways(self, tmp_path):
        write_image_folder(tmp_path)
        ds = load_dataset("folder", tmp_path, image_size=(32, 32), validation_split=0.1, batch_size=8)
        assert ds.class_names == ["cat", "dog", "frog"] and ds.num_classes == 3
        assert sum(ds.counts.values()) == 36 and ds.counts["validation"] >= 1 and ds.counts["test"] >= 1
        x, y = next(iter(ds.test))
        assert x.dtype == "uint8" and x.shape[1:] == (32, 32, 3)

    def test_train_and_test_folders(self, tmp_path):
        write_image_folder(tmp_path / "train", per_class=10)
        write_image_folder(tmp_path / "test", per_class=2)
        ds = load_dataset("folder", tmp_path, image_size=(24, 24), channels=1, validation_split=0.2)
        assert ds.counts["test"] == 6 and ds.counts["train"] + ds.counts["validation"] == 30
        assert next(iter(ds.train))[0].shape[1:] == (24, 24, 1)

    def test_folder_is_read_in_any_case(self, tmp_path):
        write_image_folder(tmp_path, classes=("cat", "dog"), per_class=10)
        ds = load_dataset("FOLDER", tmp_path, image_size=(32, 32), batch_size=8)
        assert ds.source == f"image folder {str(tmp_path)!r}" and ds.class_names == ["cat", "dog"]
        with pytest.raises(ValueError, match="Received: channels=2"):
            load_dataset("Folder", tmp_path, image_size=(32, 32), channels=2)

    def test_zoo_train_reads_a_folder_named_in_any_case(self, tmp_path, capsys):
        """`--dataset FOLDER` was not given the model's image size, so it was refused."""
        out = tmp_path / "run"
        code, _, err = run(capsys, "train", "mnist_convnet", "--dataset", "FOLDER", "--data-dir",
                           str(write_digit_folder(tmp_path / "digits")), "--epochs", "1", "--precision", "float32",
                           "--out", str(out))
        assert code == 0, err
        summary = json.loads((out / "summary.json").read_text())
        assert summary["dataset"].startswith("image folder") and summary["records"]["train"] > 0

    def test_empty_folder(self, tmp_path):
        with pytest.raises(ValueError, match="Could not read the image folder"):
            load_dataset("folder", tmp_path, image_size=(32, 32))

    def test_test_labels_are_the_training_classes(self, tmp_path):
        # test/ lacks a class of train/: its labels still count train/'s classes.
        write_image_folder(tmp_path / "train", per_class=4)
        write_image_folder(tmp_path / "test", classes=("dog", "frog"), per_class=2, split="test")
        ds = load_dataset("folder", tmp_path, image_size=(32, 32), validation_split=0.0)
        assert ds.class_names == ["cat", "dog", "frog"] and ds.num_classes == 3
        assert np.concatenate([np.asarray(y) for _, y in ds.test]).tolist() == [1, 1, 2, 2]

    def test_a_test_class_that_train_lacks_is_named(self, tmp_path):
        write_image_folder(tmp_path / "train", classes=("cat", "dog"), per_class=4)
        write_image_folder(tmp_path / "test", classes=("cat", "dog", "horse"), per_class=2, split="test")
        with pytest.raises(ValueError) as info:
            load_dataset("folder", tmp_path, image_size=(32, 32))
        assert str(info.value) == (
            f"Could not read the image folder {str(tmp_path)!r}: test/ has classes that train/ lacks: horse. "
            f"Received: data_dir={str(tmp_path)!r}"
        )

    @pytest.mark.parametrize(
        "layout,reason",
        [
            ("one class", "it needs one sub-folder of images per class, at least 2; found 1 (cat)"),
            ("train", "it has a train/ folder but no test/ folder"),
            ("test", "it has a test/ folder but no train/ folder"),
        ],
    )
    def test_folders_that_hold_no_classification(self, tmp_path, layout, reason):
        # One class trains to 100 %; a lone train/ (or test/) would be one class named so.
        if layout == "one class":
            write_image_folder(tmp_path, classes=("cat",))
        else:
            write_image_folder(tmp_path / layout)
        with pytest.raises(ValueError) as info:
            load_dataset("folder", tmp_path, image_size=(32, 32))
        message = str(info.value)
        assert message.startswith(f"Could not read the image folder {str(tmp_path)!r}: {reason}")
        assert message.endswith(f"Received: data_dir={str(tmp_path)!r}") and "\n" not in message

    @pytest.mark.parametrize("validation_split,share,needed", [(0.0, "10%", 10), (0.1, "20%", 5)])
    def test_too_few_images_to_hold_out_a_test_image(self, tmp_path, validation_split, share, needed):
        write_image_folder(tmp_path, classes=("cat", "dog"), per_class=2)
        with pytest.raises(ValueError) as info:
            load_dataset("folder", tmp_path, image_size=(32, 32), validation_split=validation_split)
        assert f"its 4 images are too few to hold out {share} of them" in str(info.value)
        assert f"at least {needed} are needed" in str(info.value)

    def test_hidden_files_and_broken_links_are_left_out(self, tmp_path):
        write_image_folder(tmp_path, per_class=10)
        (tmp_path / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07" + bytes(80))  # macOS AppleDouble
        (tmp_path / "dog" / "gone.png").symlink_to(tmp_path / "nowhere.png")
        (tmp_path / "frog" / ".thumbnails").mkdir()
        (tmp_path / "frog" / ".thumbnails" / "0.png").write_bytes((tmp_path / "frog" / "0.png").read_bytes())
        ds = load_dataset("folder", tmp_path, image_size=(32, 32), batch_size=8)
        assert sum(ds.counts.values()) == 30
        # Every record decodes.
        assert sum(len(y) for pipeline in (ds.plain_train, ds.validation, ds.test) for _, y in pipeline) == 30

    @pytest.mark.parametrize("content,reason", [
        ("text", "not a PNG, JPEG, GIF, BMP or WebP image: remove it from the folder"),
        ("tiff", "a TIFF image, which TensorFlow does not decode: convert it to PNG"),
    ])
    def test_a_file_that_is_no_image_is_named_before_training(self, tmp_path, capsys, content, reason):
        folder = write_digit_folder(tmp_path / "digits")
        bad = folder / "4" / "notes.png"
        if content == "text":
            bad.write_text("hello")
        else:
            Image.open(folder / "4" / "0.png").save(bad, format="TIFF")
        with pytest.raises(ValueError) as info:
            load_dataset("folder", folder, image_size=(28, 28), channels=1)
        assert str(info.value) == f"Could not read {str(bad)!r}: {reason}"
        out = tmp_path / "run"
        code, _, err = run(capsys, "train", "mnist_convnet", "--dataset", "folder", "--data-dir", str(folder),
                           "--epochs", "1", "--out", str(out))
        assert code == 1 and f"zoo: error: Could not read {str(bad)!r}" in err and "bug" not in err
        assert not out.exists()  # nothing half-written

    @pytest.mark.parametrize("channels", [1, 4])
    def test_formats_tensorflow_decodes_to_colour_only(self, tmp_path, channels):
        # TensorFlow decodes GIF and BMP to colour only, CMYK JPEGs not to grey, JPEGs not to
        # 4 channels: they are read as RGB, then made grey (as zoo.predict does) or given an opaque alpha.
        import tensorflow as tf

        write_image_folder(tmp_path / "train", classes=("cat", "dog"), per_class=5)
        rgb = Image.open(tmp_path / "train" / "cat" / "0.png")
        for name in ("cat/x.bmp", "cat/x.gif", "dog/cmyk.jpg", "dog/x.jpg"):
            (tmp_path / "test" / name).parent.mkdir(parents=True, exist_ok=True)
            (rgb.convert("CMYK") if "cmyk" in name else rgb).save(tmp_path / "test" / name)
        ds = load_dataset("folder", tmp_path, image_size=(32, 32), channels=channels, validation_split=0.0)
        images = np.concatenate([np.asarray(x) for pipeline in (ds.plain_train, ds.test) for x, _ in pipeline])
        assert images.shape == (14, 32, 32, channels)
        bmp = images[10]  # test/ in order: cat/x.bmp first
        if channels == 1:
            np.testing.assert_array_equal(bmp, tf.image.rgb_to_grayscale(np.asarray(rgb)).numpy())
        else:
            np.testing.assert_array_equal(bmp[..., :3], np.asarray(rgb))
            assert (images[..., 3] == 255).all()

    @pytest.mark.parametrize("channels", [1, 3, 4])
    def test_a_webp_image_with_alpha_is_read_as_zoo_predict_reads_it(self, tmp_path, channels):
        # TensorFlow decodes a WebP file with alpha to neither 1 nor 3 channels: the folder
        # pipeline decodes it as stored, with zoo.predict's decoder (it failed mid-training).
        from zoo import predict

        write_image_folder(tmp_path / "train", classes=("cat", "dog"), per_class=5)
        rgba = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
        webp = tmp_path / "test" / "cat" / "x.png"  # a name Keras lists
        webp.parent.mkdir(parents=True)
        Image.fromarray(rgba).save(webp, format="WEBP", lossless=True, exact=True)
        ds = load_dataset("folder", tmp_path, image_size=(32, 32), channels=channels, validation_split=0.0)
        ((image,),) = [np.asarray(x) for x, _ in ds.test]
        if channels == 4:
            np.testing.assert_array_equal(image, rgba)  # its alpha kept
        else:
            np.testing.assert_array_equal(image, predict.read_image(webp, (32, 32, channels)))
            np.testing.assert_array_equal(predict.read_image(webp, (32, 32, 3)), rgba[..., :3])


class TestAugmentation:
    """One random affine warp per image, from stateless seeds."""

    def _digits(self, n=32):
        return np.asarray(_sample("mnist")[0][0][:n], "float32")

    def test_the_seed_decides_the_images(self):
        augment = data.augmentation("digits")
        x = self._digits()
        a, b, c = (np.asarray(augment(x, s)) for s in ([1, 2], [1, 2], [3, 4]))
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
        assert a.shape == x.shape and 0 <= a.min() and a.max() <= 255
        # Small warps: shifts of at most 2.24 pixels, rotations and zooms about
        # the centre move the centre of mass little and keep the ink within
        # the zoom's area change (1/1.1^2 to 1/0.9^2).
        def centre(images):
            grid = np.arange(28)
            mass = images[..., 0].sum(axis=(1, 2))
            return np.stack([(images[..., 0].sum(2) * grid).sum(1), (images[..., 0].sum(1) * grid).sum(1)], 1) / mass[:, None]

        assert np.abs(centre(a) - centre(x)).max() < 4
        ink = a.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
        assert ink.min() > 0.75 and ink.max() < 1.3

    def test_runs_on_tensorflow_ops_whatever_the_keras_backend(self, monkeypatch):
        # Inside tf.data a Keras op runs on the configured backend, which under
        # JAX or PyTorch cannot take graph tensors: the warp must not use one.
        import keras

        x = self._digits(8)
        expected = np.asarray(data.augmentation("digits")(x, [3, 4]))
        monkeypatch.setattr(keras.ops.image, "affine_transform", lambda *a, **k: pytest.fail("a Keras op"))
        ds = load_dataset("mnist:sample", batch_size=8, augment="digits", seed=0)
        assert next(iter(ds.train))[0].shape == (8, 28, 28, 1)
        np.testing.assert_array_equal(np.asarray(data.augmentation("digits")(x, [3, 4])), expected)

    def test_no_range_is_the_identity(self):
        x = self._digits(4)
        np.testing.assert_allclose(data.random_affine(x, [5, 6]), x, atol=1e-3)

    def test_objects_are_flipped_or_shifted_whole_pixels(self):
        x = np.asarray(_sample("cifar10")[0][0][:64], "float32")
        flipped = np.asarray(data.random_affine(x, [7, 8], flip=True))
        is_same = [np.array_equal(f, o) for f, o in zip(flipped, x)]
        is_mirror = [np.array_equal(f, o[:, ::-1]) for f, o in zip(flipped, x)]
        assert all(s or m for s, m in zip(is_same, is_mirror)) and 10 < sum(is_mirror) < 54
        shifted = np.asarray(data.augmentation("objects")(x, [9, 10]))
        # Nearest-neighbour whole-pixel moves: only the image's own values.
        for s, o in zip(shifted, x):
            assert set(np.unique(s)) <= set(np.unique(o))

    def test_training_pipeline_is_reproducible(self):
        batches = [
            np.asarray(next(iter(load_dataset("mnist:sample", augment="digits", seed=3).train))[0])
            for _ in range(2)
        ]
        np.testing.assert_array_equal(*batches)


def _warp_ranges(kind):
    """`AUGMENTATIONS[kind]` split into the transform's ranges and the warp's options."""
    ranges = dict(data.AUGMENTATIONS[kind])
    return ranges, ranges.pop("interpolation"), ranges.pop("fill_mode")


def _tf_warp(images, transforms, interpolation, fill_mode):
    import tensorflow as tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=images.shape[1:3], fill_value=0.0,
        interpolation=interpolation.upper(), fill_mode=fill_mode.upper(),
    ).numpy()


class TestNumpyWarp:
    """The TensorFlow-free augmentation: TensorFlow's resampling, in NumPy."""

    @pytest.mark.parametrize("fill_mode", ["constant", "reflect"])
    @pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
    @pytest.mark.parametrize("kind,sample", [("digits", "mnist"), ("objects", "cifar10")])
    def test_same_transforms_same_images_as_tensorflow(self, kind, sample, interpolation, fill_mode):
        images = np.asarray(_sample(sample)[0][0][:128], "float32")
        ranges, _, _ = _warp_ranges(kind)
        u = np.random.default_rng(0).uniform(-1, 1, (len(images), 5)).astype("float32")
        transforms = data.affine_transforms(u, *images.shape[1:3], **ranges)
        expected = _tf_warp(images, transforms, interpolation, fill_mode)
        warped = data._warp_numpy(images, transforms, interpolation, fill_mode)
        assert warped.dtype == "float32" and warped.shape == images.shape
        assert np.abs(warped - expected).max() < 1e-3
        assert np.abs(expected - images).max() > 1  # the warps did move pixels

    @pytest.mark.parametrize("fill_mode", ["constant", "reflect", "wrap", "nearest"])
    @pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
    def test_far_outside_and_projective(self, interpolation, fill_mode):
        # Zooms out of up to 3, shifts of several sides, projective terms:
        # coordinates far outside the image, mapped in by each fill mode.
        images = np.asarray(_sample("cifar10")[0][0][:64], "float32")
        rng = np.random.default_rng(1)
        transforms = np.zeros((64, 8), "float32")
        transforms[:, [0, 4]] = rng.uniform(-3, 3, (64, 2))
        transforms[:, [1, 3]] = rng.uniform(-2, 2, (64, 2))
        transforms[:, [2, 5]] = rng.uniform(-100, 100, (64, 2))
        transforms[32:, 6:] = rng.uniform(-0.05, 0.05, (32, 2))
        expected = _tf_warp(images, transforms, interpolation, fill_mode)
        assert np.abs(data._warp_numpy(images, transforms, interpolation, fill_mode) - expected).max() < 1e-3

    @pytest.mark.parametrize("kind", sorted(data.AUGMENTATIONS))
    def test_both_paths_compute_the_same_transforms(self, kind):
        import tensorflow as tf

        ranges, _, _ = _warp_ranges(kind)
        u = np.random.default_rng(2).uniform(-1, 1, (256, 5)).astype("float32")
        ours = data.affine_transforms(u, 28, 32, **ranges)
        theirs = data.affine_transforms(tf.constant(u), tf.constant(28.0), tf.constant(32.0), **ranges)
        assert ours.dtype == "float32" and ours.shape == (256, 8)
        np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)

    def test_numpy_augmentation(self):
        x = np.asarray(_sample("cifar10")[0][0][:64], "float32")
        rng = lambda: np.random.default_rng(5)  # noqa: E731
        np.testing.assert_allclose(data._random_affine_numpy(x, rng()), x, atol=1e-3)
        ranges = data.AUGMENTATIONS["objects"]
        a, b = (data._random_affine_numpy(x, rng(), **ranges) for _ in range(2))
        np.testing.assert_array_equal(a, b)
        # Whole-pixel shifts and flips, nearest, reflected: only the image's own values.
        for s, o in zip(a, x):
            assert set(np.unique(s)) <= set(np.unique(o))
        assert not np.array_equal(a, x)

    def test_bad_options(self):
        x = np.zeros((1, 4, 4, 1), "float32")
        with pytest.raises(ValueError, match="Received: fill_mode='mirror'"):
            data._warp_numpy(x, np.eye(3).ravel()[:8], fill_mode="mirror")
        with pytest.raises(ValueError, match="Received: interpolation='cubic'"):
            data._warp_numpy(x, np.eye(3).ravel()[:8], interpolation="cubic")


class TestArrayBatches:
    """The NumPy pipeline of `_from_arrays` where TensorFlow is missing."""

    def _batches(self, n=10, **kwargs):
        images = np.arange(n, dtype="uint8").reshape(n, 1, 1, 1) * np.ones((1, 4, 4, 1), "uint8")
        return data.ArrayBatches(images, np.arange(n) % 3, **kwargs)

    def _epoch(self, batches):
        return [int(x[i, 0, 0, 0]) for x, _ in batches for i in range(len(x))]

    def test_batches_in_order(self):
        batches = self._batches(batch_size=4)
        assert len(batches) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
        assert self._epoch(batches) == list(range(10)) == self._epoch(batches)
        x, y = batches[-1]
        assert x.dtype == "uint8" and y.dtype == "int64" and y.tolist() == [2, 0]
        with pytest.raises(IndexError, match="Received: index=3"):
            batches[3]

    def test_shuffled_epochs_drop_the_remainder(self):
        batches = self._batches(batch_size=4, shuffle=True, drop_remainder=True, seed=1)
        assert len(batches) == 2
        first = self._epoch(batches)  # a complete pass ends the epoch
        second = self._epoch(batches)
        assert batches.epoch == 2 and first != second
        assert len(set(first)) == len(set(second)) == 8
        # The same seed, the same epochs; a batch reads the same however often read.
        again = self._batches(batch_size=4, shuffle=True, drop_remainder=True, seed=1)
        np.testing.assert_array_equal(again[1][0], again[1][0])
        assert self._epoch(again) == first
        again.on_epoch_end()  # as Keras calls it
        assert again.epoch == 2 and self._epoch(again) != second

    def test_augmented_batches(self):
        (x, y), _, _ = _sample("mnist")
        kwargs = {"batch_size": 32, "shuffle": True, "augment": "digits", "seed": 3}
        a, b, c = (data.ArrayBatches(x[:100], y[:100], **kwargs) for _ in range(3))
        c.on_epoch_end()
        first = a[0][0]
        assert first.dtype == "float32" and first.shape == (32, 28, 28, 1)
        np.testing.assert_array_equal(first, b[0][0])
        assert not np.array_equal(first, c[0][0])  # a new epoch: new order, new warps
        assert 0 <= first.min() and first.max() <= 255

    def test_one_hot(self):
        batches = self._batches(batch_size=4, shuffle=True, seed=0)
        labelled = data.one_hot(batches, 3)
        assert batches.num_classes is None  # the original keeps its integer labels
        x, y = labelled[0]
        np.testing.assert_array_equal(x, batches[0][0])
        assert y.dtype == "float32" and y.shape == (4, 3)
        np.testing.assert_array_equal(y.argmax(1), batches[0][1])
        with pytest.raises(ValueError, match="Received: num_classes=0"):
            data.one_hot(batches, 0)
        with pytest.raises(TypeError, match="Received: pipeline=list"):
            data.one_hot([], 3)

    def test_one_hot_of_tf_data(self):
        ds = load_dataset("mnist:sample", batch_size=16)
        x, y = next(iter(data.one_hot(ds.test, ds.num_classes)))
        _, labels = next(iter(ds.test))
        assert y.dtype == "float32" and tuple(y.shape) == (16, 10)
        np.testing.assert_array_equal(np.argmax(y, 1), labels)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="Received: images.shape"):
            data.ArrayBatches(np.zeros((3, 4, 4)), [0, 1, 2], batch_size=2)
        with pytest.raises(ValueError, match="Received: batch_size=0"):
            self._batches(batch_size=0)
        with pytest.raises(ValueError, match="Received: augment='wild'"):
            self._batches(batch_size=2, augment="wild")


class TestWithoutTensorFlow:
    """`load_dataset` where TensorFlow reads as missing, in this process; see
    also tests/test_without_tensorflow.py, with TensorFlow really unimportable."""

    @pytest.fixture
    def no_tensorflow(self, monkeypatch):
        monkeypatch.setattr(data, "tensorflow_available", lambda: False)

    def test_tensorflow_is_found_here(self):
        assert data.tensorflow_available() is True

    @pytest.mark.parametrize("validation_split", RECIPE_SPLITS)
    def test_arrays_give_what_tf_data_gives(self, tmp_path, validation_split, request):
        write_cifar_files(tmp_path)
        kwargs = {"batch_size": 32, "validation_split": validation_split, "augment": "objects", "seed": 4}
        tf_path = load_dataset("cifar10", tmp_path, **kwargs)
        request.getfixturevalue("no_tensorflow")
        ds = load_dataset("cifar10", tmp_path, **kwargs)
        assert all(isinstance(p, data.ArrayBatches) for p in (ds.train, ds.validation, ds.test))
        for field in ("counts", "steps_per_epoch", "num_classes", "class_names", "image_shape", "source"):
            assert getattr(ds, field) == getattr(tf_path, field), field
        assert len(ds.train) == ds.steps_per_epoch
        for split in ("validation", "test"):  # unshuffled: the same records, batch for batch
            ours = [(np.asarray(x), np.asarray(y)) for x, y in getattr(ds, split)]
            theirs = [(np.asarray(x), np.asarray(y)) for x, y in getattr(tf_path, split)]
            assert len(ours) == len(theirs) == -(-ds.counts[split] // 32)
            for (x, y), (xt, yt) in zip(ours, theirs):
                np.testing.assert_array_equal(x, xt)
                np.testing.assert_array_equal(y, yt)
        x, y = ds.train[0]
        assert x.shape == (32, 32, 32, 3) and x.dtype == "float32" and y.dtype == "int64"

    def test_resizing(self, no_tensorflow):
        ds = load_dataset("mnist:sample", image_size=(32, 32), batch_size=64)
        x, _ = ds.test[0]
        assert ds.image_shape == (32, 32, 1) and x.shape == (64, 32, 32, 1) and x.dtype == "uint8"

    def test_sources_that_need_tensorflow_say_so(self, tmp_path, no_tensorflow):
        with pytest.raises(ValueError) as info:
            load_dataset("folder", tmp_path, image_size=(8, 8))
        assert str(info.value) == (
            "`--dataset folder` reads images with TensorFlow, which is not installed: pip install tensorflow. "
            "Received: dataset='folder'"
        )
        with pytest.raises(ValueError) as info:
            load_dataset("mnist", tmp_path)
        message = str(info.value)
        for fragment in ("pip install tensorflow tensorflow-datasets", "official raw files in",
                         "DIR/mnist/", "--dataset mnist:sample", "Received: dataset='mnist'"):
            assert fragment in message, fragment
        assert "\n" not in message

    def test_tensorflow_datasets_missing(self, tmp_path, monkeypatch):
        import sys

        monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
        with pytest.raises(ValueError, match="pip install tensorflow-datasets. Received: dataset='zoo_nothing'"):
            load_dataset("zoo_nothing", tmp_path)
