"""The package installs what it needs and exposes what it promises."""

import importlib.metadata
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np

import zoo


def test_declared_dependencies_import():
    # tensorflow-datasets 4.9.10 needs importlib_resources but does not declare it.
    import ai_edge_litert.interpreter  # noqa: F401
    import keras_tuner  # noqa: F401
    import tensorflow_datasets  # noqa: F401

    requires = " ".join(importlib.metadata.requires("keras-zoo"))
    for name in ("keras>=3.14", "tensorflow>=2.20", "keras-tuner>=1.4.7", "importlib_resources",
                 "ai-edge-litert", "pillow", 'keras-tuner[bayesian]>=1.4.7; extra == "bayesian"'):
        assert name in requires, name
    import PIL  # noqa: F401


def test_public_api():
    for name in ("mnist_convnet", "cifar10_net", "vgg16", "list_models", "create_model", "model_info"):
        assert callable(getattr(zoo, name)) and name in zoo.__all__
    assert importlib.metadata.entry_points(group="console_scripts", name="zoo")


def test_model_families_keep_their_import_paths():
    """zoo/models/ groups the families; `zoo.vgg`, `from zoo.cifar import ...` still work."""
    import zoo.cifar
    import zoo.models
    from zoo.vgg import IMAGENET_MEAN_BGR

    for family in ("cifar", "filter_convnets", "mnist", "vgg"):
        assert importlib.import_module(f"zoo.{family}") is getattr(zoo.models, family) is getattr(zoo, family)
    assert zoo.cifar.init_whitening.__module__ == "zoo.models.cifar" and len(IMAGENET_MEAN_BGR) == 3
    done = subprocess.run([sys.executable, "-c", "from zoo.filter_convnets import edge_convnet; print(edge_convnet.__module__)"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "zoo.models.filter_convnets", done.stderr[-2000:]


ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _setuptools_floor() -> tuple[int, ...]:
    """The lowest setuptools that `build-system.requires` allows, e.g. `(77,)`."""
    (floor,) = [r.split(">=")[1] for r in _pyproject()["build-system"]["requires"] if r.startswith("setuptools>=")]
    return tuple(int(p) for p in floor.split("."))


def test_build_requirement_reads_the_license_field():
    # PEP 639's `license = "SPDX"` string is valid from setuptools 77 on; older
    # ones reject the whole pyproject.toml.
    if isinstance(_pyproject()["project"].get("license"), str):
        assert _setuptools_floor() >= (77,)


def build_wheel(folder: Path, floor: tuple[int, ...]) -> Path:
    """Builds the project's wheel with the oldest major release of setuptools it allows."""
    constraint = folder / "build-constraints.txt"
    constraint.write_text(f"setuptools>={'.'.join(map(str, floor))},<{floor[0] + 1}\n")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--build-constraint", str(constraint),
         "--wheel-dir", str(folder), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = folder.glob("keras_zoo-*.whl")
    return wheel


def test_wheel_built_with_the_oldest_setuptools_works_outside_the_checkout(tmp_path):
    wheel = build_wheel(tmp_path, _setuptools_floor())
    names = zipfile.ZipFile(wheel).namelist()
    assert {"zoo/results.json", "zoo/samples/mnist.npz", "zoo/samples/cifar10.npz", "zoo_cli.py"} <= set(names)
    shipped_weights = {f"zoo/weights/{p.name}" for p in (ROOT / "zoo" / "weights").iterdir()}
    assert shipped_weights and shipped_weights <= set(names), shipped_weights - set(names)
    assert "License-Expression: Apache-2.0" in zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))
    ).decode()
    # The licence's text travels with the wheel, as Apache-2.0 asks.
    licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert "Apache License" in zipfile.ZipFile(wheel).read(licence).decode()
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, timeout=300)
    # From an empty folder, with the installed copy first on the path: the
    # shipped samples and recorded results load, the console script runs.
    script = (
        "import sys, zoo; from zoo import data;"
        "assert zoo.__file__.startswith(sys.argv[1]), zoo.__file__;"
        "d = data.load_dataset('cifar10:sample', batch_size=8, validation_split=0.0); print(d.counts['train']);"
        "print(zoo.model_info('mnist_convnet')['params']);"
        "m = zoo.cifar10_net(weights='cifar10'); print(zoo.decode_predictions("
        "m.predict(d.test.take(1).get_single_element()[0], verbose=0), weights=('cifar10_net', 'cifar10'))[0][0][0])"
    )
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", script, str(site)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(ROOT / "zoo" / "samples" / "cifar10.npz") as sample:
        shipped = len(sample["x_train"])
    *counts, label = done.stdout.split()
    assert counts == [str(shipped), "93322"] and label in zoo.weights.class_names("cifar10_net", "cifar10")
    # The console script runs the demo's first command, as a user runs it
    # after `pip install keras-zoo`.
    trained = subprocess.run([str(site / "bin" / "zoo"), "train", "mnist_convnet", "--dataset", "mnist:sample",
                              "--epochs", "1", "--out", "run"], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "mnist_convnet: test accuracy" in trained.stdout and (cwd / "run" / "model.keras").is_file()
