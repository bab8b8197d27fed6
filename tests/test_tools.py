"""tools/*.py: the generators run from a fresh clone, the venv not activated."""

import importlib.util
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load(name):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_weights_trains_with_this_pythons_zoo(monkeypatch, tmp_path):
    make_weights = load("make_weights")
    ran = []

    def run(command, **kwargs):
        ran.append(command)
        raise RuntimeError("stop before training")

    monkeypatch.setattr(make_weights.subprocess, "run", run)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `zoo` there
    with pytest.raises(RuntimeError, match="stop before training"):
        make_weights.ship("mnist_convnet", "data", tmp_path)
    assert ran[0][0] == str(Path(sys.executable).with_name("zoo")), ran
    assert ran[0][1:4] == ["train", "mnist_convnet", "--dataset"]
