"""The zoo on Keras' other backends, JAX and PyTorch, in subprocesses (a
backend is chosen once per process, before Keras is imported).

Each backend trains, resumes, predicts, exports, fine-tunes, tunes and
benchmarks with the same recipes and outputs as on TensorFlow, and its
`.keras` files give the same outputs on TensorFlow. PyTorch's tests carry the
`torch` mark: `make test` leaves them to `make test-torch`.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import assert_one_line_error
from test_cli import _console_script, run

BACKENDS = [
    pytest.param("jax", marks=pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                                 reason="jax is not installed")),
    pytest.param("torch", marks=[pytest.mark.torch, pytest.mark.skipif(
        importlib.util.find_spec("torch") is None, reason="torch is not installed: make test-torch installs it")]),
]
SAMPLE = ["--dataset", "mnist:sample"]

# `zoo(*argv)` runs a `zoo` command in the script's process, through zoo.cli
# as the console script does, and returns its exit status, output and time.
COMMANDS = """
    import contextlib, io, json, sys, time

    def zoo(*argv):
        from zoo import cli

        out, err, started = io.StringIO(), io.StringIO(), time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
        return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                "seconds": round(time.perf_counter() - started, 1)}
"""


def _script(*parts: str) -> str:
    """Python source from indented parts."""
    return "\n".join(textwrap.dedent(part) for part in parts)


def _on(backend: str, *command, cwd=None, script=None):
    """Runs the `zoo` console script, or a Python script (see `_script`), on a backend."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.pop("ZOO_TRACEBACK", None)
    argv = [sys.executable, "-c", script, *command] if script else [*_console_script(), *command]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False)


def _ok(result: dict, name: str):
    assert result["code"] == 0, (name, result["stderr"][-3000:], result["stdout"][-1000:])


def _history(out):
    import csv

    with open(out / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_seeded_predict_export_and_load_on_tensorflow(backend, tmp_path):
    """Two seeded runs (the console script, then zoo.cli in a script that
    goes on to predict and export): the same weights, the backend recorded,
    and the model's outputs alike on TensorFlow."""
    from PIL import Image

    from zoo import data

    (x, _), _, _ = data.read_sample("mnist:sample")
    digit = tmp_path / "digit.png"
    Image.fromarray(x[0, ..., 0]).save(digit)
    argv = ["train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--seed", "3"]

    first = tmp_path / "first"
    done = _on(backend, *argv, "--out", str(first))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # TensorFlow's start-up lines are held back on this backend too
    summary = json.loads((first / "summary.json").read_text())
    assert summary["backend"] == backend and summary["seed"] == 3 and summary["test_accuracy"] > 0.5
    assert {backend, "tensorflow", "keras"} <= set(summary["versions"])
    assert summary["files"]["tensorboard"] == "logs/" and any((first / "logs").rglob("events.out.tfevents.*"))
    assert [r["epoch"] for r in _history(first)] == ["0"] and (first / "curves.png").exists()
    assert not (first / "backup").exists()
    if backend == "jax":  # XLA's programs kept for the next run (zoo.cli.cache_jax_compilations)
        kept = os.path.join(os.environ["ZOO_CACHE_DIR"], "jax")
        assert any(name.endswith("-cache") for name in os.listdir(kept))

    second = tmp_path / "second"
    script = _script(COMMANDS, """
        import numpy as np, keras
        from zoo import data
        argv, out, digit = sys.argv[1:-2], sys.argv[-2], sys.argv[-1]
        results = {"train": zoo(*argv, "--out", out)}
        (_, _), (x, _), _ = data.read_sample("mnist:sample")
        model = keras.saving.load_model(out + "/model.keras")
        np.save(out + "/outputs.npy", np.asarray(model.predict(x[:64], verbose=0)))
        results["predict"] = zoo("predict", out + "/model.keras", digit, "--top-k", "3", "--json")
        results["export"] = zoo("export", out + "/model.keras", "--format", "tflite", "--parity-images", "64",
                                "--out", out + "/m.tflite")
        results["mirrored"] = zoo(*argv, "--strategy", "mirrored", "--out", out + "-mirrored")
        json.dump(results, open(out + "/results.json", "w"))
    """)
    done = _on(backend, *argv, str(second), str(digit), script=script)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((second / "results.json").read_text())
    _ok(results["train"], "train")
    assert json.loads((second / "summary.json").read_text())["backend"] == backend

    _ok(results["predict"], "predict")
    (found,) = json.loads(results["predict"]["stdout"])
    assert found["image"] == str(digit) and len(found["top_k"]) == 3
    assert {c["name"] for c in found["top_k"]} <= set("0123456789")  # the names from summary.json
    assert sum(c["probability"] for c in found["top_k"]) <= 1 + 1e-6

    _ok(results["export"], "export")
    report = json.loads((second / "m.tflite.json").read_text())
    assert report["within_tolerance"] is True and report["parity"]["top1_agreement"] > 0.95

    # tf.distribute is TensorFlow's: one line naming the backend, nothing written.
    assert results["mirrored"]["code"] == 1
    assert_one_line_error(results["mirrored"]["stderr"], "zoo: error:", "--strategy mirrored",
                          f"Received: strategy='mirrored' on the {backend} backend")
    assert not (tmp_path / "second-mirrored").exists()

    # On TensorFlow: the seeded runs hold the same weights, and the model
    # gives the backend's outputs (float32).
    compare = """
        import sys, numpy as np, keras
        from zoo import data
        first, second = (keras.saving.load_model(p + "/model.keras") for p in sys.argv[1:3])
        for a, b in zip(first.get_weights(), second.get_weights()):
            np.testing.assert_array_equal(a, b)
        (_, _), (x, _), _ = data.read_sample("mnist:sample")
        np.testing.assert_allclose(second.predict(x[:64], verbose=0), np.load(sys.argv[2] + "/outputs.npy"),
                                   atol=1e-5)
    """
    done = _on("tensorflow", str(first), str(second), script=_script(compare))
    assert done.returncode == 0, done.stderr[-3000:]


# A run killed (SIGKILL) right after epoch 1's backup, as a kill between epochs leaves it.
KILLED_AFTER_EPOCH_1 = """
    import os, signal, sys
    from zoo import callbacks

    save = callbacks.ResumableBackup._save_model

    def save_then_die(self):
        save(self)
        if self._current_epoch == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    callbacks.ResumableBackup._save_model = save_then_die
    import zoo_cli

    sys.argv = ["zoo", *sys.argv[1:]]
    sys.exit(zoo_cli.main())
"""


# Slow (55 s on JAX on 2 cores): the default suite trains cifar10_net's
# whitened stem on JAX in-process (tests/test_training.py, `make test`'s JAX
# run), resumes after SIGKILL on TensorFlow, and loads a JAX-trained model on
# TensorFlow (test_train_seeded_predict_export_and_load_on_tensorflow).
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_cifar10_net_resumes_after_sigkill_and_loads_on_tensorflow(backend, tmp_path):
    """The whitened stem and the test-time views train, resume and reload."""
    out = tmp_path / "run"
    argv = ["train", "cifar10_net", "--dataset", "cifar10:sample", "--epochs", "2", "--out", str(out)]
    done = _on(backend, *argv, script=_script(KILLED_AFTER_EPOCH_1))
    assert done.returncode == -9, done.stderr[-3000:]
    assert (out / "backup" / "epoch-0001.weights.h5").exists() and not (out / "model.keras").exists()

    # The same command resumes at epoch 2, then predicts for the comparison below.
    resume = """
        import sys, numpy as np, keras, zoo_cli
        out = sys.argv[-1]
        sys.argv = ["zoo", *sys.argv[1:-1]]
        assert zoo_cli.main() == 0
        from zoo import data
        (_, _), (x, _), _ = data.read_sample("cifar10:sample")
        model = keras.saving.load_model(out + "/model.keras")
        np.save(out + "/outputs.npy", np.asarray(model.predict(x[:32], verbose=0)))
    """
    done = _on(backend, *argv, str(out), script=_script(resume))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == backend and summary["epochs"] == 2 and summary["epochs_run"] == 1
    assert summary["recipe"]["whitening"] is True
    assert [r["epoch"] for r in _history(out)] == ["0", "1"] and not (out / "backup").exists()

    compare = """
        import sys, numpy as np, keras
        from zoo import data
        (_, _), (x, _), _ = data.read_sample("cifar10:sample")
        model = keras.saving.load_model(sys.argv[1] + "/model.keras")
        np.testing.assert_allclose(model.predict(x[:32], verbose=0), np.load(sys.argv[1] + "/outputs.npy"),
                                   atol=1e-5)
    """
    done = _on("tensorflow", str(out), script=_script(compare))
    assert done.returncode == 0, done.stderr[-3000:]


# Slow on JAX (about 45 s on 2 cores): `make test-slow` runs it, `make
# test-torch` runs it on PyTorch; the default suite keeps train, resume,
# predict and export on JAX.
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_finetune_tune_and_bench(backend, tmp_path):
    """`zoo finetune` and a one-trial `zoo tune` on a tiny image folder, from
    a local weights file; a tiny `zoo bench` that records the backend."""
    import keras
    from conftest import save_keras_applications_h5
    from test_data import write_image_folder

    folder = write_image_folder(tmp_path / "images", per_class=8)
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    weights = save_keras_applications_h5(reference, str(tmp_path / "vgg16_notop.h5"))
    script = _script(COMMANDS, """
        import dataclasses, functools
        from zoo import bench, training
        folder, weights, out = sys.argv[1:4]
        tiny = ["--data-dir", folder, "--weights", weights, "--image-size", "32", "--epochs", "1"]
        results = {
            "finetune": zoo("finetune", "vgg16", *tiny, "--fine-epochs", "1", "--batch-size", "8",
                            "--out", out + "/finetune"),
            "tune": zoo("tune", "vgg16", *tiny, "--max-trials", "1", "--out", out + "/tune"),
        }
        # One step per compiled call, so that the two timed steps compile no
        # 64-step loop, and a small matmul probe.
        recipe = training.RECIPES["mnist_convnet"]
        training.RECIPES["mnist_convnet"] = dataclasses.replace(recipe, steps_per_execution=1)
        bench.matmul_peak_gflops = functools.partial(bench.matmul_peak_gflops, n=256)
        results["bench"] = zoo("bench", "mnist_convnet", "--steps", "2", "--rounds", "1", "--runs", "2",
                               "--out", out + "/bench.json")
        json.dump(results, open(out + "/results.json", "w"))
    """)
    done = _on(backend, str(folder), weights, str(tmp_path), script=script)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())

    _ok(results["finetune"], "finetune")
    summary = json.loads((tmp_path / "finetune" / "summary.json").read_text())
    assert summary["backend"] == backend and summary["classes"] == ["cat", "dog", "frog"]
    assert [(r["epoch"], r["phase"]) for r in _history(tmp_path / "finetune")] == [("0", "1"), ("1", "2")]
    model = keras.saving.load_model(tmp_path / "finetune" / "model.keras")
    for block in range(1, 6):  # phase 2 trained the top block only
        layer = f"block{block}_conv1"
        same = np.array_equal(model.get_layer(layer).kernel, reference.get_layer(layer).kernel)
        assert same == (block < 5), layer

    _ok(results["tune"], "tune")
    assert results["tune"]["stdout"].strip().splitlines()[-1].startswith("vgg16: best val_accuracy")
    best = json.loads((tmp_path / "tune" / "best_hyperparameters.json").read_text())
    assert best["backend"] == backend and best["trials"] == 1
    assert keras.saving.load_model(tmp_path / "tune" / "best.keras").output_shape == (None, 3)

    _ok(results["bench"], "bench")
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert bench["backend"] == backend and bench["command"].startswith(f"KERAS_BACKEND={backend} zoo bench")
    measured = bench["models"]["mnist_convnet"]["zoo"]
    assert measured["train_images_per_second"] > 0 and list(measured["inference"]) == ["keras"]  # no TF exports


def test_without_tensorflow_exports_and_image_reading_say_what_to_install(tmp_path, capsys, monkeypatch):
    """Where TensorFlow is not installed, what needs it says so in one line."""
    import keras

    import zoo
    from zoo import data, export, predict

    monkeypatch.setattr(data, "tensorflow_available", lambda: False)
    model_file = tmp_path / "m.keras"
    zoo.mnist_convnet().save(model_file)
    code, stdout, err = run(capsys, "export", str(model_file), "--format", "tflite", "--out", str(tmp_path / "m.tflite"))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "zoo: error:", "needs TensorFlow", "pip install tensorflow")
    assert not (tmp_path / "m.tflite").exists()
    with pytest.raises(ValueError, match="pip install tensorflow"):
        predict.read_image(model_file, (28, 28, 1))  # any existing file: refused before decoding
    with pytest.raises(ValueError, match="pip install tensorflow"):
        export.tflite_bytes(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
