"""benchmarks/recipe_runs.py: repeated recipe runs and their paired test-time views."""

import doctest
import re
import sys

import pytest

from zoo import training

import recipe_runs


def test_the_docstring_examples_hold():
    results = doctest.testmod(recipe_runs)
    assert results.attempted >= 2 and results.failed == 0


def main(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["recipe_runs.py", *argv])
    # The script puts its changed recipe into the registry: a copy, restored
    # after the test, so later tests in this process see the shipped recipes.
    monkeypatch.setattr(training, "RECIPES", dict(training.RECIPES))
    recipe_runs.main()


@pytest.mark.parametrize("setting, default", [
    ([], "flip_translate"),  # cifar10_net's recipe: airbench's six views
    (["--set", "model_kwargs={}"], "flip"),  # the factory's default
])
def test_views_score_the_trained_weights(monkeypatch, capsys, setting, default):
    main(monkeypatch, "cifar10_net", "--runs", "2", "--set", "epochs=1", *setting, "--dataset", "cifar10:sample",
         "--views")
    out = capsys.readouterr().out
    runs = re.findall(r"run \d: top-1 ([\d.]+)% on 200 test images.*None: ([\d.]+)%, flip: ([\d.]+)%, "
                      r"translate: [\d.]+%, flip_translate: ([\d.]+)%", out)
    assert len(runs) == 2, out
    for top1, _, flip, flip_translate in runs:
        # Rebuilt in the run's precision with the views the trained model
        # uses, the same weights score what the run itself reported.
        assert {"flip": flip, "flip_translate": flip_translate}[default] == top1
    assert re.search(r"mean top-1 [\d.]+% over 2 runs, range", out)
    line = lambda mode: out.split(f"test-time augmentation {mode}:")[1].splitlines()[0]  # noqa: E731
    assert "mean top-1" in line(default) and "paired change" not in line(default)
    other = "flip" if default == "flip_translate" else "flip_translate"
    assert re.search(rf"paired change from the default \({default}\): [+-][\d.]+% .*better in [012] of 2\)",
                     line(other)), out


@pytest.mark.parametrize("argv, fragment", [
    (["edge_convnet", "--views"],
     "test-time augmentation (cifar10_net, mnist_convnet, resnet9). Received: model='edge_convnet'"),
    (["mnist_convnet", "--batchnorm"], "BatchNorm layers (cifar10_net, edge_convnet, lm_convnet, mobilenet_v2, "
                                       "resnet50, resnet9). Received: model='mnist_convnet'"),
    (["cifar10_net", "--runs", "0"], "Received: --runs=0"),
    # --batchnorm set it False without a word.
    (["cifar10_net", "--batchnorm", "--set", "recompute_batchnorm=True"],
     "drop --set recompute_batchnorm=True. Received: --batchnorm --set recompute_batchnorm=True"),
    (["cifar10_net", "--seed", "-1"], "Received: --seed=-1"),
    (["cifar10_net", "--set", "colour=1"], "Received: 'colour=1'"),
    # Fields the recipe itself refuses: one line too, not a traceback.
    (["cifar10_net", "--set", "epochs=0"], "--set: `Recipe.epochs` must be an integer >= 1. Received: epochs=0"),
    (["cifar10_net", "--set", "validation_split=2"], "Received: validation_split=2"),
    (["mnist_convnet", "--dataset", "no_such_set", "--data-dir", "."], "Received: dataset='no_such_set'"),
    (["mnist_convnet", "--data-dir", "no/such/folder"], "Received: data_dir='no/such/folder'"),
])
def test_bad_input(monkeypatch, capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit:
        main(monkeypatch, *argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert fragment in err and err.startswith("recipe_runs.py: error:")


def test_seeded_runs_repeat(monkeypatch, capsys):
    for _ in range(2):
        main(monkeypatch, "mnist_convnet", "--runs", "2", "--seed", "7", "--set", "epochs=1", "--dataset", "mnist:sample")
    out = capsys.readouterr().out
    runs = re.findall(r"run (\d): top-1 ([\d.]+)% .*\(\w+, seed (\d+)\)", out)
    assert [(i, seed) for i, _, seed in runs] == [("1", "7"), ("2", "8")] * 2, out
    assert [top1 for _, top1, _ in runs[:2]] == [top1 for _, top1, _ in runs[2:]]


def test_runs_without_views(monkeypatch, capsys):
    main(monkeypatch, "mnist_convnet", "--runs", "1", "--set", "epochs=1", "--dataset", "mnist:sample")
    out = capsys.readouterr().out
    assert re.search(r"run 1: top-1 [\d.]+% on [\d,]+ test images, \d+ s training", out), out
    assert "mean top-1" in out and "test-time" not in out
    assert "validation" not in out  # the recipe holds nothing out


def test_held_out_images_are_scored_too(monkeypatch, capsys):
    main(monkeypatch, "mnist_convnet", "--runs", "2", "--set", "epochs=1", "--set", "validation_split=0.25",
         "--dataset", "mnist:sample")
    out = capsys.readouterr().out
    scores = re.findall(r"validation top-1 ([\d.]+)% on 1,000 held-out images", out)
    assert len(scores) == 2 and all(float(score) > 50 for score in scores), out
    mean = re.search(r"mean validation top-1 ([\d.]+)% over 2 runs", out)
    assert mean and float(mean.group(1)) == pytest.approx(sum(map(float, scores)) / 2, abs=0.01)


def test_batchnorm_scores_kept_and_recomputed_statistics_on_the_same_weights(monkeypatch, capsys):
    # cifar10_net's recipe recomputes them: --batchnorm trains keeping them.
    main(monkeypatch, "cifar10_net", "--runs", "2", "--set", "epochs=1", "--dataset", "cifar10:sample", "--batchnorm")
    out = capsys.readouterr().out
    assert "'recompute_batchnorm': False" in out.splitlines()[0], out
    runs = re.findall(r"run \d: top-1 ([\d.]+)% .*BatchNorm statistics kept: ([\d.]+)%, recomputed: ([\d.]+)%", out)
    assert len(runs) == 2, out
    # The saved weights, scored as the run scored them, give the run's top-1.
    assert all(top1 == kept for top1, kept, _ in runs)
    mean = re.search(r"BatchNorm statistics recomputed: mean top-1 ([\d.]+)% over 2 runs.*"
                     r"paired change from the kept: ([+-][\d.]+) points, standard error [\d.]+ \(better in (\d), "
                     r"worse in (\d) of 2\)", out)
    assert mean, out
    gains = [float(again) - float(kept) for _, kept, again in runs]
    assert float(mean.group(1)) == pytest.approx(sum(float(r[2]) for r in runs) / 2, abs=0.01)
    assert float(mean.group(2)) == pytest.approx(sum(gains) / 2, abs=0.01)
    assert (int(mean.group(3)), int(mean.group(4))) == (sum(g > 0 for g in gains), sum(g < 0 for g in gains))
