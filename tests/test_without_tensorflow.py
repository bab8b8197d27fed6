"""The zoo where TensorFlow is not installed: in-memory data as NumPy batches.

Each test runs a JAX subprocess in which TensorFlow cannot be imported and
compares what it got with what the TensorFlow path gives in this process.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zoo.data import load_dataset

pytest.importorskip("jax")

# TensorFlow hidden as tests usually hide a module: a None in sys.modules.
HIDE_BY_SYS_MODULES = """
    import sys
    sys.modules["tensorflow"] = None
    sys.modules["tensorflow_datasets"] = None
"""
# TensorFlow hidden as where it is not installed: the path finder does not
# find it (`importlib.util.find_spec` gives None, as PyTorch asks), `import
# tensorflow` fails and nothing is in sys.modules. Keras asks whether
# "tensorflow" is in sys.modules before calling its preprocessing layers
# (`in_tf_graph`), so a model only runs with TensorFlow hidden this way.
HIDE_BY_IMPORT_HOOK = """
    import importlib.machinery
    import importlib.util
    import sys

    class NotInstalled:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
                return None
            return importlib.machinery.PathFinder.find_spec(name, path, target)

        @staticmethod
        def invalidate_caches():
            importlib.machinery.PathFinder.invalidate_caches()

    sys.meta_path[:] = [NotInstalled if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    assert importlib.util.find_spec("tensorflow") is None
"""
PRELUDE = """
    import os
    os.environ["KERAS_BACKEND"] = "jax"
    import json
    import numpy as np
    import keras
    import zoo
    from zoo import data
    assert keras.backend.backend() == "jax"
    assert data.tensorflow_available() is False
"""


def _without_tensorflow(hide, script, *args):
    """Runs `script` (after `hide` and `PRELUDE`) on JAX with TensorFlow missing; its last stdout line, as JSON."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("ZOO_TRACEBACK", None)
    code = textwrap.dedent(hide) + textwrap.dedent(PRELUDE) + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _hashes(batches):
    return sorted(hashlib.sha1(np.asarray(x).tobytes()).hexdigest() for b, _ in batches for x in np.asarray(b))


def test_sample_pipelines_match_the_tensorflow_ones(tmp_path):
    kwargs = {"batch_size": 64, "augment": "digits", "seed": 1}
    tf_path = load_dataset("mnist:sample", **kwargs)
    every_record = _hashes(load_dataset("mnist:sample", batch_size=10_000).train)  # one batch: all 3600
    resized = np.asarray(next(iter(load_dataset("mnist:sample", image_size=(32, 32)).test))[0])
    out = tmp_path / "out.npz"
    got = _without_tensorflow(HIDE_BY_SYS_MODULES, """
        out = sys.argv[1]
        kwargs = {"batch_size": 64, "augment": "digits", "seed": 1}
        ds = data.load_dataset("mnist:sample", **kwargs)
        x, y = ds.train[0]
        again = data.load_dataset("mnist:sample", **kwargs).train[0][0]
        other_seed = data.load_dataset("mnist:sample", batch_size=64, augment="digits", seed=2).train[0][0]
        labelled = data.one_hot(ds.train, ds.num_classes)[0][1]
        plain = data.load_dataset("mnist:sample", batch_size=64, seed=1)
        epoch = [np.asarray(b[0]) for b in plain.train]
        try:
            data.load_dataset("folder", os.path.dirname(out), image_size=(28, 28))
            folder = None
        except ValueError as e:
            folder = str(e)
        np.savez(out, first=x, again=again, other_seed=other_seed, labelled=labelled,
                 epoch=np.concatenate(epoch), validation=np.concatenate([y for _, y in ds.validation]),
                 test=np.concatenate([x for x, _ in ds.test]),
                 resized=data.load_dataset("mnist:sample", image_size=(32, 32)).test[0][0])
        print(json.dumps({
            "kinds": [type(p).__name__ for p in (ds.train, ds.validation, ds.test)],
            "counts": ds.counts, "steps": ds.steps_per_epoch, "image_shape": list(ds.image_shape),
            "batches": [len(p) for p in (ds.train, ds.validation, ds.test)],
            "train_sizes": sorted({len(y) for _, y in ds.train}),
            "first": [list(x.shape), str(x.dtype), list(y.shape), str(y.dtype)],
            "labelled": [list(labelled.shape), str(labelled.dtype)],
            "folder": folder,
            "imported": sorted(m for m, v in sys.modules.items() if m.startswith("tensorflow") and v is not None),
        }))
    """, out)
    assert got["kinds"] == ["ArrayBatches"] * 3 and got["imported"] == []
    assert got["counts"] == tf_path.counts and got["steps"] == tf_path.steps_per_epoch == 56
    assert tuple(got["image_shape"]) == tf_path.image_shape
    assert got["batches"] == [56, 7, 16] == [sum(1 for _ in p) for p in (tf_path.train, tf_path.validation, tf_path.test)]
    assert got["train_sizes"] == [64]  # full batches only, as tf.data's
    assert got["first"] == [[64, 28, 28, 1], "float32", [64], "int64"]
    assert got["labelled"] == [[64, 10], "float32"]
    assert got["folder"] == ("`--dataset folder` reads images with TensorFlow, which is not installed: "
                             "pip install tensorflow. Received: dataset='folder'")
    with np.load(out) as f:
        np.testing.assert_array_equal(f["first"], f["again"])  # the same seed, the same warps
        assert not np.array_equal(f["first"], f["other_seed"])
        assert 0 <= f["first"].min() and f["first"].max() <= 255
        assert set(np.unique(f["labelled"])) == {0.0, 1.0} and (f["labelled"].sum(1) == 1).all()
        # The records of an epoch: distinct training records of the TensorFlow path.
        epoch = _hashes([(f["epoch"], None)])
        assert len(every_record) == 3600 and len(set(epoch)) == len(epoch) == 56 * 64
        assert set(epoch) <= set(every_record)
        np.testing.assert_array_equal(f["validation"], np.concatenate([np.asarray(y) for _, y in tf_path.validation]))
        np.testing.assert_array_equal(f["test"], np.concatenate([np.asarray(x) for x, _ in tf_path.test]))
        assert f["resized"].dtype == np.uint8 and f["resized"].shape == resized.shape == (128, 32, 32, 1)
        assert np.abs(f["resized"].astype(int) - resized.astype(int)).max() <= 1


def test_a_convnet_trains_on_jax_without_tensorflow():
    got = _without_tensorflow(HIDE_BY_IMPORT_HOOK, """
        ds = data.load_dataset("mnist:sample", batch_size=64, augment="digits", seed=1)
        model = zoo.mnist_convnet()
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(data.one_hot(ds.train, ds.num_classes), epochs=1, verbose=0)
        print(json.dumps({
            "accuracy": history.history["accuracy"],
            "imported": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_datasets")),
        }))
    """)
    assert got["imported"] == []
    (accuracy,) = got["accuracy"]
    assert isinstance(accuracy, float) and 0 <= accuracy <= 1
