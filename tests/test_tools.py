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


def test_make_weights_puts_the_shipped_set_back_when_measuring_fails(monkeypatch, tmp_path):
    """It wrote the new weights and a record without metrics, then failed."""
    import json

    import zoo

    make_weights = load("make_weights")
    shipped = tmp_path / "weights"
    shipped.mkdir()
    (shipped / "mnist_convnet.mnist.weights.h5").write_bytes(b"the shipped weights")
    monkeypatch.setattr(make_weights.zoo_weights, "WEIGHTS_DIR", shipped)

    def train(command, **kwargs):  # a "trained" model and its summary where `zoo train` puts them
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True)
        zoo.mnist_convnet().save(out / "model.keras")
        summary = {"classes": [str(i) for i in range(10)], "records": {"train": 1}, "recipe": {},
                   "precision": "float32", "device": {"description": "a CPU"}, "versions": {}}
        (out / "summary.json").write_text(json.dumps(summary))

    monkeypatch.setattr(make_weights.subprocess, "run", train)
    with pytest.raises(Exception):  # noqa: B017 - measuring fails: no official files in the data folder
        make_weights.ship("mnist_convnet", str(tmp_path / "no-data"), tmp_path / "runs")
    assert sorted(p.name for p in shipped.iterdir()) == ["mnist_convnet.mnist.weights.h5"]
    assert (shipped / "mnist_convnet.mnist.weights.h5").read_bytes() == b"the shipped weights"


def test_make_docs_rewrites_nothing_when_a_block_is_missing(monkeypatch, tmp_path):
    """It wrote the model cards, then stopped at a page without its block: the docs half-updated."""
    import shutil

    root = TOOLS.parent
    shutil.copytree(root / "docs", tmp_path / "docs")
    shutil.copy(root / "README.md", tmp_path / "README.md")
    (tmp_path / "zoo").mkdir()
    shutil.copy(root / "zoo" / "results.json", tmp_path / "zoo" / "results.json")
    tuning = tmp_path / "docs" / "tuning.md"
    tuning.write_text(tuning.read_text().replace("<!-- begin: search spaces -->", ""))
    card = tmp_path / "docs" / "models" / "mnist_convnet.md"
    card.write_text("stale")
    make_docs = load("make_docs")
    monkeypatch.setattr(make_docs, "ROOT", tmp_path)
    # `zoo list` in a subprocess, twice, is most of the time and none of the point.
    monkeypatch.setattr(make_docs, "zoo", lambda *args: "the zoo list\n")
    with pytest.raises(SystemExit, match="no '<!-- begin: search spaces -->'.*nothing was rewritten"):
        make_docs.main()
    assert card.read_text() == "stale"
