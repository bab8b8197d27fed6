"""benchmarks/view_sets.py: other sets of test-time views of the same weights."""

import doctest
import re
import sys

import numpy as np
import pytest

import zoo
from zoo import training
from zoo.layers import TestTimeViews

import recipe_runs
import view_sets


def test_the_docstring_examples_hold():
    results = doctest.testmod(view_sets)
    assert results.attempted >= 2 and results.failed == 0


@pytest.mark.parametrize("view, shift", [(1, (1, 1)), (2, (-1, -1))])
def test_shifts_are_the_layers(view, shift):
    """The script's shifts move pixels as the model's own views do ("translate": the
    images, then their shifts down-right and up-left, borders reflected)."""
    x = np.random.default_rng(0).uniform(0, 255, (2, 9, 7, 3)).astype("float32")
    ours = np.asarray(TestTimeViews("translate")(x))[view * 2:(view + 1) * 2]
    np.testing.assert_allclose(ours, view_sets.shifted(x, *shift))


def test_kept_runs_score_their_own_views_as_saved(monkeypatch, capsys, tmp_path):
    """recipe_runs --keep keeps each run; view_sets reproduces each model's own top-1
    from its logits, and prints every set's paired change."""
    monkeypatch.setattr(training, "RECIPES", dict(training.RECIPES))
    monkeypatch.setattr(sys, "argv", ["recipe_runs.py", "cifar10_net", "--runs", "2", "--seed", "3", "--set",
                                      "epochs=1", "--dataset", "cifar10:sample", "--keep", str(tmp_path)])
    recipe_runs.main()
    reported = re.findall(r"run \d: top-1 ([\d.]+)%", capsys.readouterr().out)
    models = sorted(str(p) for p in tmp_path.glob("run-*/model.keras"))
    assert len(models) == 2 and len(reported) == 2
    monkeypatch.setattr(sys, "argv", ["view_sets.py", *models, "--dataset", "cifar10:sample"])
    view_sets.main()
    out = capsys.readouterr().out
    own = re.findall(r"its own views \(flip_translate\): ([\d.]+)% \(the saved model: ([\d.]+)%\)", out)
    assert [a for a, _ in own] == [b for _, b in own] == reported, out
    assert re.search(r"its own \(flip_translate\): mean top-1 [\d.]+%; paired change \+0\.00 points", out)
    for name in view_sets.SETS:
        assert re.search(rf"{re.escape(name)}: mean top-1 [\d.]+%; paired change [+-][\d.]+ points, "
                         r"standard error [\d.]+ \(better in [012], worse in [012]\)", out), name


def test_a_model_without_views_is_refused(monkeypatch, capsys, tmp_path):
    path = str(tmp_path / "plain.keras")
    zoo.cifar10_net(test_time_augmentation=None).save(path)
    monkeypatch.setattr(sys, "argv", ["view_sets.py", path, "--dataset", "cifar10:sample"])
    with pytest.raises(SystemExit) as exit:
        view_sets.main()
    assert exit.value.code == 2
    assert f"Received: {path!r}" in capsys.readouterr().err


def test_an_unknown_dataset_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "argv", ["view_sets.py", str(tmp_path / "model.keras"), "--dataset", "no_such_set",
                                      "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as exit:
        view_sets.main()
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("view_sets.py: error: Unknown dataset") and "Received: dataset='no_such_set'" in err
