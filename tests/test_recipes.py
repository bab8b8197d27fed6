"""Every script in recipes/ runs with --quick on the shipped samples, as a user copies it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p.name for p in (ROOT / "recipes").glob("*.py"))
# What each prints last: the recipe's stated result.
EXPECTED = {
    "train_mnist.py": r"shipped weights: \[\('\d', ",
    "train_cifar10.py": r"stage 3 stage3_block2_act: \(2, 3, 3, 128\)",
    "finetune_vgg16.py": r"vgg16: [\d.]+% top-1 on \d+ held-out images of \['cat', 'dog', 'frog'\], phases \[1, 1\]",
    "tune_mnist.py": r"best.keras: [\d,]+ parameters",
    "export_tflite.py": r"model_int8.tflite: input \(28, 28, 1\), classes \['0', ",
}


def test_every_recipe_is_tested():
    assert RECIPES == sorted(EXPECTED)


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_header_is_keras_io_style(recipe):
    text = (ROOT / "recipes" / recipe).read_text()
    header = text.split('"""')[1]
    fields = dict(line.split(": ", 1) for line in header.strip().splitlines())
    assert list(fields) == ["Title", "Author", "Date created", "Last modified", "Description"]
    for date in (fields["Date created"], fields["Last modified"]):
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", date)
    assert len(fields["Description"]) < 100 and fields["Description"].endswith(".")
    assert "--quick" in text and '"""shell' in text


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_runs_quick(recipe, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(ROOT / "recipes" / recipe), "--quick"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(EXPECTED[recipe], done.stdout.strip().splitlines()[-1]), done.stdout[-2000:]


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_bad_arguments_get_a_usage_error_before_keras_loads(recipe, tmp_path):
    # No TF_CPP_MIN_LOG_LEVEL: TensorFlow, once imported, logs its start-up to stderr.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    flags = [["--bogus"]]
    if "--data-dir" in (ROOT / "recipes" / recipe).read_text():
        flags.append(["--data-dir", str(tmp_path / "missing")])
    for argv in flags:
        done = subprocess.run([sys.executable, str(ROOT / "recipes" / recipe), *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert lines[0].startswith("usage: "), done.stderr
        assert all(line.startswith(" ") for line in lines[1:-1]), done.stderr
        assert lines[-1].startswith(f"{recipe}: error: "), done.stderr
