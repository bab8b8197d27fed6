"""benchmarks/profile_training.py: a recipe's kernels by op and by layer."""

import doctest
import sys

import pytest

import profile_training


def test_the_docstring_examples_hold():
    results = doctest.testmod(profile_training)
    assert results.attempted >= 5 and results.failed == 0


def test_a_short_run_is_split_into_the_models_layers(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["profile_training.py", "mnist_convnet", "--dataset", "mnist:sample",
                                      "--epochs", "1", "--precision", "float32", "--top", "40"])
    profile_training.main()
    out = capsys.readouterr().out
    assert "mnist_convnet on " in out and "1 epochs of 4,000 images" in out and "(float32)" in out
    by_op, by_layer = out.split("\nby op\n")[1].split("\nby layer\n")
    # Every convolution ran forward and backward, and the warps of the data pipeline ran outside the model.
    for layer in ("conv1", "conv2", "conv3"):
        assert f"\n{layer} forward " in "\n" + by_layer and f"\n{layer} gradient " in "\n" + by_layer
    assert "(outside the model)" in by_layer and "ImageProjectiveTransformV3" in by_op
    shares = [float(line.split()[-2]) for line in by_layer.strip().splitlines()]
    assert sum(shares) == pytest.approx(100, abs=0.5)


def test_nonsense_settings_are_refused(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["profile_training.py", "mnist_convnet", "--epochs", "0"])
    with pytest.raises(SystemExit) as exit_:
        profile_training.main()
    assert exit_.value.code == 2
    assert "--epochs and --top must be at least 1. Received: --epochs 0 --top 15" in capsys.readouterr().err


def test_an_unknown_dataset_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["profile_training.py", "mnist_convnet", "--dataset", "no_such_set",
                                      "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        profile_training.main()
    assert exit_.value.code.startswith("profile_training: Unknown dataset")
    assert "Received: dataset='no_such_set'" in exit_.value.code


@pytest.mark.parametrize("traces", [0, 1])
def test_an_empty_profile_is_one_line(monkeypatch, tmp_path, traces):
    """No trace, or one without kernels: a ValueError unpacking, then a division by zero."""
    summary = {"model": "mnist_convnet", "epochs_run": 0, "records": {"train": 1}, "train_seconds": 0.0,
               "precision": "float32"}
    from zoo import training

    monkeypatch.setattr(training, "train", lambda *a, **k: summary)
    trace = tmp_path / "empty.xplane.pb"
    trace.write_bytes(b"")
    monkeypatch.setattr(profile_training.glob, "glob", lambda *a, **k: [str(trace)] * traces)
    monkeypatch.setattr(sys, "argv", ["profile_training.py", "mnist_convnet", "--dataset", "mnist:sample"])
    with pytest.raises(SystemExit) as exit_:
        profile_training.main()
    assert exit_.value.code.startswith("profile_training: ")
    assert ("wrote 0 traces" if traces == 0 else "holds no kernel time (0 epochs run)") in exit_.value.code
