"""The zoo on Keras' other backends: JAX here, in subprocesses (a backend is
chosen once per process, before Keras is imported)."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_cli import _console_script

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


def _on(backend: str, *command, cwd=None, script=None):
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.pop("ZOO_TRACEBACK", None)
    argv = [sys.executable, "-c", textwrap.dedent(script), *command] if script else [*_console_script(), *command]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_zoo_train_on_jax_and_the_model_loads_on_tensorflow_alike(tmp_path):
    out = tmp_path / "run"
    done = _on("jax", "train", "mnist_convnet", "--dataset", "mnist:sample", "--epochs", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # TensorFlow's start-up lines are held back on JAX too
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "jax" and summary["test_accuracy"] > 0.5
    # The same file on each backend gives the same outputs (float32).
    predict = """
        import sys, numpy as np, keras, zoo
        from zoo import data
        model = keras.saving.load_model(sys.argv[1])
        (_, _), (x, _), _ = data.read_sample("mnist:sample")
        np.save(sys.argv[2], np.asarray(model.predict(x[:64], verbose=0)))
    """
    outputs = {}
    for backend in ("jax", "tensorflow"):
        path = tmp_path / f"{backend}.npy"
        done = _on(backend, str(out / "model.keras"), str(path), script=predict)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[backend] = np.load(path)
    np.testing.assert_allclose(outputs["jax"], outputs["tensorflow"], atol=1e-5)
    # And it exports from JAX to a TFLite file that agrees with Keras.
    done = _on("jax", "export", str(out / "model.keras"), "--format", "tflite", "--parity-images", "64",
               "--out", str(tmp_path / "m.tflite"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "m.tflite.json").read_text())["within_tolerance"] is True
