"""The docs and the README say what the code does."""

import json
import re
from pathlib import Path

import pytest
from test_cli import run

import zoo
from zoo.modelcard import docstring_args, model_card

ROOT = Path(__file__).resolve().parents[1]


def test_model_table_is_current(capsys):
    page = (ROOT / "docs" / "models.md").read_text()
    table = re.search(
        r"<!-- begin: zoo list --markdown -->\n(.*?)<!-- end: zoo list --markdown -->", page, re.S
    ).group(1)
    code, out, _ = run(capsys, "list", "--markdown")
    assert code == 0 and table == out, "regenerate the table with `zoo list --markdown`"


def test_readme_list_output_is_current(capsys):
    readme = (ROOT / "README.md").read_text()
    code, out, _ = run(capsys, "list", "--markdown")
    for row in out.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert re.search(r"│ " + r"\s+│ ".join(map(re.escape, cells)), readme), row


@pytest.mark.parametrize("name", zoo.list_models())
def test_model_cards_are_current(name, capsys):
    card = (ROOT / "docs" / "models" / f"{name}.md").read_text()
    code, out, _ = run(capsys, "info", name, "--markdown")
    assert code == 0 and card == out, "regenerate with `python recipes/make_docs.py`"


def test_model_card_facts():
    card = model_card("mnist_convnet")
    assert "93,322 parameters" in card and "| `dropout` | `0.0` |" in card
    assert "| `conv1` | Conv2D | (26, 26, 32) | 320 |" in card
    assert "| `lr` |" in card  # the search space
    assert "mnist_convnet.py" not in card and "Received" not in card


def test_docstring_args():
    args = docstring_args(zoo.mnist_convnet)
    assert list(args)[:3] == ["input_shape", "classes", "include_top"]
    assert args["padding"].startswith("Convolution padding") and "Defaults to" in args["padding"]


def test_readme_figures_are_the_recorded_ones():
    """The README's training and export tables quote zoo/results.json."""
    readme = (ROOT / "README.md").read_text()
    results = json.loads((ROOT / "zoo" / "results.json").read_text())["models"]
    for name, task in (("mnist_convnet", "mnist"), ("cifar10_net", "cifar10")):
        training = results[name]["training"][task]
        reference = training["reference"]
        accuracy = results[name]["accuracy"][task]["top1"]
        row = (f"{100 * reference['accuracy']:.2f} % in {reference['wall_seconds']:.0f} s | {name}: "
               f"{100 * accuracy:.2f} % in {training['wall_seconds']:.0f} s | {training['time_ratio']:.2f} |")
        assert row in readme, row
    for name, export in ((n, results[n]["export"]) for n in ("mnist_convnet", "cifar10_net", "vgg16")):
        keras_top1, int8_top1 = export["runtimes"]["keras"]["top1"], export["runtimes"]["tflite_int8"]["top1"]
        assert f"| {100 * keras_top1:.2f} % / {100 * int8_top1:.2f} % |" in readme, name
    lm = json.loads((ROOT / "zoo" / "results.json").read_text())["layers"]["LeungMalikFilters"]
    error = f"{lm['max_abs_error']:.1e}".replace("e-0", "e-")
    words = " ".join(readme.split())
    assert f"within {error} of a dense 49x49 convolution and {lm['speedup']:.2f}x faster on " \
        f"{lm['images'].split()[0]} real 64x64 images" in words
    layers_page = " ".join((ROOT / "docs" / "layers.md").read_text().split())
    assert f"({lm['speedup']:.2f}x, max abs error {error}," in layers_page


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (ROOT / "README.md").read_text()
