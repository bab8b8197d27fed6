"""benchmarks/recipe_runs.py: repeated recipe runs and their paired test-time views."""

import re
import sys
from pathlib import Path

import pytest

from zoo import training

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import recipe_runs  # noqa: E402


def main(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["recipe_runs.py", *argv])
    # The script puts its changed recipe into the registry: a copy, restored
    # after the test, so later tests in this process see the shipped recipes.
    monkeypatch.setattr(training, "RECIPES", dict(training.RECIPES))
    recipe_runs.main()


def test_views_score_the_trained_weights(monkeypatch, capsys):
    main(monkeypatch, "cifar10_net", "--runs", "2", "--set", "epochs=1", "--dataset", "cifar10:sample", "--views")
    out = capsys.readouterr().out
    runs = re.findall(r"run \d: top-1 ([\d.]+)% on 200 test images.*None: ([\d.]+)%, flip: ([\d.]+)%, "
                      r"flip_translate: ([\d.]+)%", out)
    assert len(runs) == 2, out
    for top1, _, flip, _ in runs:
        # "flip" is the factory's default: rebuilt in the run's precision, the
        # same weights score what the run itself reported.
        assert flip == top1
    assert re.search(r"mean top-1 [\d.]+% over 2 runs, range", out)
    assert "test-time augmentation flip: mean top-1" in out and "paired change" not in out.split(
        "test-time augmentation flip:")[1].splitlines()[0]
    assert re.search(r"test-time augmentation flip_translate: .*paired change from the default \(flip\): "
                     r"[+-][\d.]+% .*better in [012] of 2\)", out)


@pytest.mark.parametrize("argv, fragment", [
    (["mnist_convnet", "--views"], "Received: model='mnist_convnet'"),
    (["cifar10_net", "--runs", "0"], "Received: --runs=0"),
    (["cifar10_net", "--set", "colour=1"], "Received: 'colour=1'"),
])
def test_bad_input(monkeypatch, capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit:
        main(monkeypatch, *argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert fragment in err and err.startswith("recipe_runs.py: error:")


def test_runs_without_views(monkeypatch, capsys):
    main(monkeypatch, "mnist_convnet", "--runs", "1", "--set", "epochs=1", "--dataset", "mnist:sample")
    out = capsys.readouterr().out
    assert re.search(r"run 1: top-1 [\d.]+% on [\d,]+ test images, \d+ s training", out), out
    assert "mean top-1" in out and "test-time" not in out
