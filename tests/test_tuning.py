"""`zoo.hypermodel` and `zoo tune`: spaces, keras-tuner, resuming, chief and workers, bad input."""

import csv
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest
from conftest import assert_one_line_error
from test_cli import _console_script, run

import zoo
from zoo import data as zoo_data
from zoo import training, tuning
from zoo.precision import choose_precision

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ["--dataset", "mnist:sample"]


def _trials(out):
    with open(out / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_model_has_a_space_whose_defaults_are_its_recipe():
    assert sorted(tuning.SEARCH_SPACES) == zoo.list_models()
    for name, space in tuning.SEARCH_SPACES.items():
        values = tuning.hypermodel(name).values(kt.HyperParameters())
        for hp_name, spec in space.items():
            default = tuning.default_value(name, hp_name)
            if "values" in spec:
                assert default in spec["values"], (name, hp_name)
            else:
                assert spec["min"] <= default <= spec["max"], (name, hp_name)
            if name not in training.FINETUNE_RECIPES and hp_name not in tuning._RECIPE_FIELDS:
                factory = inspect.signature(zoo.registry.get_model_factory(name)).parameters[hp_name].default
                assert values[hp_name] == factory, (name, hp_name)
    digits = tuning.hypermodel("mnist_convnet").values(kt.HyperParameters())
    assert digits["filters"] == (32, 64, 64) and digits["lr"] == 1e-2 and digits["batch_size"] == 64
    assert digits["label_smoothing"] == 0.1 and digits["weight_decay"] == 1e-3
    cifar = tuning.hypermodel("cifar10_net").values(kt.HyperParameters())
    assert (cifar["lr"], cifar["weight_decay"], cifar["logit_scale"]) == (0.6, 1e-3, 0.125)
    assert tuning.hypermodel("vgg16").values(kt.HyperParameters()) == {"lr": 1e-3, "fine_lr": 1e-4, "unfreeze": 1}


def test_docs_table_is_current():
    page = (ROOT / "docs" / "tuning.md").read_text()
    table = re.search(r"<!-- begin: search spaces -->\n(.*?)<!-- end: search spaces -->", page, re.S).group(1)
    assert table == tuning.search_space_markdown(), "regenerate with zoo.tuning.search_space_markdown()"


def test_default_build_is_the_recipe():
    model = zoo.hypermodel("mnist_convnet").build(kt.HyperParameters())
    assert model.count_params() == zoo.create_model("mnist_convnet").count_params() == 93_322
    # In the precision "auto" picks on this machine (the tests time no probe):
    # bfloat16 where the CPU has native bfloat16 instructions, else float32.
    assert model.dtype_policy.name == choose_precision("auto").policy
    assert isinstance(model.optimizer, keras.optimizers.AdamW) and model.loss.get_config()["label_smoothing"] == 0.1
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2)
    cifar = zoo.hypermodel("cifar10_net", classes=3).build(kt.HyperParameters())
    assert cifar.count_params() == zoo.create_model("cifar10_net", classes=3).count_params()
    assert isinstance(cifar.optimizer, keras.optimizers.SGD)


def test_unknown_models_and_misplaced_weights():
    with pytest.raises(ValueError, match="vgg61.*vgg16|vgg16.*vgg61"):
        zoo.hypermodel("vgg61")
    with pytest.raises(ValueError, match="Received: weights='imagenet'"):
        zoo.hypermodel("mnist_convnet", weights="imagenet")


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_a_narrowed_search_with_keras_tuner_in_python(tmp_path):
    """Any keras-tuner tuner; only the hyperparameters in `hp` are searched."""
    data = zoo_data.load_dataset("mnist:sample", batch_size=128, validation_split=0.1, seed=0)
    hp = kt.HyperParameters()
    hp.Choice("batch_size", [64, 128])
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    tuner = kt.RandomSearch(
        zoo.hypermodel("mnist_convnet"), objective="val_accuracy", max_trials=2, seed=1, hyperparameters=hp,
        tune_new_entries=False, directory=tmp_path, project_name="narrow",
    )
    tuner.search(data.train, validation_data=data.validation, epochs=1, verbose=0)
    trials = tuner.oracle.trials.values()
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    assert {p.name for p in tuner.oracle.get_space().space} == {"batch_size", "dropout"}
    for trial in trials:  # the others keep their defaults
        assert trial.hyperparameters.values["filters"] == "32-64-64" and trial.hyperparameters.values["lr"] == 1e-2
    best = tuner.get_best_models(1)[0]
    assert best.output_shape == (None, 10) and best.get_layer("fc1").units == 64  # an unsearched default
    assert tuner.oracle.get_best_trials(1)[0].score > 0.5


def test_tune_writes_the_results_and_resumes(tmp_path, capsys):
    out = tmp_path / "search"
    argv = ["tune", "mnist_convnet", *SAMPLE, "--epochs", "1", "--seed", "3", "--out", str(out)]
    code, stdout, err = run(capsys, *argv, "--max-trials", "2")
    assert code == 0, err
    last = stdout.strip().splitlines()[-1]
    assert re.match(r"mnist_convnet: best val_accuracy [\d.]+% in trial_\d of 2 trials \(2 run by this proc", last)
    rows = _trials(out)
    assert [r["trial_id"] for r in rows] == ["0", "1"] and {r["status"] for r in rows} == {"COMPLETED"}
    names = list(tuning.SEARCH_SPACES["mnist_convnet"])
    assert list(rows[0]) == ["trial_id", *names, "score", "status"]
    # The first trial is the recipe: every default.
    assert {n: rows[0][n] for n in names} == {n: str(tuning.default_value("mnist_convnet", n)) for n in names}
    summary = json.loads((out / "best_hyperparameters.json").read_text())
    best = max(rows, key=lambda r: float(r["score"]))
    assert summary["best_trial"] == best["trial_id"] and summary["best_score"] == float(best["score"])
    assert summary["hyperparameters"]["filters"] == best["filters"] and summary["seed"] == 3
    assert summary["records"]["validation"] == 400  # a validation split, though the recipe trains on all
    assert (out / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = keras.saving.load_model(out / "best.keras")
    assert model.dtype_policy.name == "float32" and model.output_shape == (None, 10)
    assert not [p for p in out.iterdir() if "partial" in p.name]
    checkpoints = {i: (out / "tuner" / f"trial_{i}" / "checkpoint.weights.h5").stat().st_mtime_ns for i in "01"}

    code, stdout, err = run(capsys, *argv, "--max-trials", "3")
    assert code == 0, err
    assert stdout.count("Running Trial") == 1 and "(1 run by this process)" in stdout
    assert [r["trial_id"] for r in _trials(out)] == ["0", "1", "2"]
    assert rows == _trials(out)[:2]  # the finished trials were not run again
    for i, mtime in checkpoints.items():
        assert (out / "tuner" / f"trial_{i}" / "checkpoint.weights.h5").stat().st_mtime_ns == mtime

    code, stdout, err = run(capsys, *argv, "--max-trials", "3", "--tuner", "bayesian")
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "holds a search with tuner='random'", "Received: tuner='bayesian'")


@pytest.mark.parametrize(
    "kind,epochs,trials",
    # Hyperband at 3 epochs: three 1-epoch trials, then the best goes on from its weights to epoch 3.
    # Bayesian optimisation is keras-tuner's, behind the same --tuner switch: with the slow tests.
    [pytest.param("bayesian", 1, 2, marks=pytest.mark.slow), ("hyperband", 3, 2),
     pytest.param("hyperband", 3, 4, marks=pytest.mark.slow)],
)
def test_other_tuners(tmp_path, capsys, kind, epochs, trials):
    out = tmp_path / kind
    code, stdout, err = run(capsys, "tune", "mnist_convnet", *SAMPLE, "--tuner", kind, "--max-trials", str(trials),
                            "--epochs", str(epochs), "--seed", "0", "--out", str(out))
    assert code == 0, err
    rows = _trials(out)
    assert [r["trial_id"] for r in rows] == [str(i) for i in range(trials)] and rows[0]["filters"] == "32-64-64"
    assert {r["status"] for r in rows} == {"COMPLETED"}
    assert json.loads((out / "best_hyperparameters.json").read_text())["tuner"] == kind


def test_vgg16_finetuning_search(tmp_path, capsys):
    """Both phases per trial, scored on phase 2, from a local weights file."""
    from conftest import save_keras_applications_h5
    from test_data import write_image_folder

    folder = write_image_folder(tmp_path / "images", per_class=12)
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    weights = save_keras_applications_h5(reference, str(tmp_path / "vgg16_notop.h5"))

    data = zoo_data.load_dataset("folder", folder, image_size=(32, 32), batch_size=16, validation_split=0.2)
    hypermodel = zoo.hypermodel("vgg16", input_shape=(32, 32, 3), classes=3, weights=weights)
    model = hypermodel.build(kt.HyperParameters())
    seen = []
    recorder = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["val_accuracy"]))
    history = hypermodel.fit(kt.HyperParameters(), model, data.train, validation_data=data.validation,
                             epochs=1, fine_epochs=1, callbacks=[recorder], verbose=0)
    assert seen == history.history["val_accuracy"] and len(seen) == 1  # the tuner sees phase 2 only
    for block in range(1, 6):
        layer = f"block{block}_conv1"
        same = np.array_equal(model.get_layer(layer).kernel, reference.get_layer(layer).kernel)
        assert same == (block < 5), layer  # unfreeze=1: only the top block trained

    out = tmp_path / "search"
    code, stdout, err = run(capsys, "tune", "vgg16", "--data-dir", str(folder), "--weights", weights,
                            "--image-size", "32", "--max-trials", "1", "--epochs", "1", "--out", str(out))
    assert code == 0, err
    assert stdout.strip().splitlines()[-1].startswith("vgg16: best val_accuracy")
    rows = _trials(out)
    assert [(r["lr"], r["fine_lr"], r["unfreeze"]) for r in rows] == [("0.001", "0.0001", "1")]
    assert keras.saving.load_model(out / "best.keras").output_shape == (None, 3)


def test_a_chief_and_two_workers_share_one_search(tmp_path):
    """keras-tuner's chief/worker mode on localhost: every trial runs once."""
    out = tmp_path / "search"
    env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    command = _console_script() + ["tune", "mnist_convnet", *SAMPLE, "--max-trials", "3", "--epochs", "1",
                                   "--out", str(out)]
    processes = {
        tuner_id: subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": tuner_id},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tuner_id in ("chief", "tuner0", "tuner1")
    }
    outputs = {}
    for tuner_id, process in processes.items():
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, (tuner_id, stderr[-3000:])
        outputs[tuner_id] = stdout.strip().splitlines()[-1]
    rows = _trials(out)
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2"]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    runs = [int(re.search(r"ran (\d+) trial", outputs[w]).group(1)) for w in ("tuner0", "tuner1")]
    assert sum(runs) == 3, outputs  # no trial ran twice
    assert outputs["chief"].startswith("mnist_convnet: best val_accuracy") and "of 3" in outputs["chief"]
    assert (out / "best.keras").exists() and (out / "trials.png").exists()


def test_a_worker_without_a_chief_fails_in_bounded_time(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(_free_port()))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    out = tmp_path / "search"
    started = time.monotonic()
    code, stdout, err = run(capsys, "tune", "mnist_convnet", *SAMPLE, "--epochs", "1", "--chief-timeout", "1",
                            "--out", str(out))
    assert code == 1 and stdout == "" and time.monotonic() - started < 60
    assert_one_line_error(err, "No keras-tuner chief answered at 127.0.0.1:", "--chief-timeout")
    assert not out.exists()


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["tune", "resnet51"], ["Received: name='resnet51'"]),
        (["tune", "mnist_convnet", "--max-trials", "0"], ["Received: max_trials=0"]),
        (["tune", "mnist_convnet", "--tuner", "wild"], ["invalid choice: 'wild'"]),
        (["tune", "mnist_convnet", "--epochs", "-1"], ["Received: epochs=-1"]),
        (["tune", "mnist_convnet", "--seed", "-2"], ["Received: seed=-2"]),
        (["tune", "mnist_convnet", "--dataset", "mnist", "--data-dir", "/no/such/dir"], ["/no/such/dir"]),
        (["tune", "mnist_convnet", "--weights", "imagenet"], ["Received: weights='imagenet'"]),
        (["tune", "vgg16", "--tuner", "hyperband"], ["Received: tuner='hyperband'"]),
        (["tune", "mnist_convnet", "--chief-timeout", "0"], ["Received: chief_timeout=0.0"]),
    ],
)
def test_bad_input(tmp_path, capsys, monkeypatch, argv, fragments):
    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)
    out = tmp_path / "search"
    extra = SAMPLE if "--dataset" not in argv else []
    code, stdout, err = run(capsys, *argv, *extra, "--out", str(out))
    assert code in (1, 2) and stdout == ""
    assert_one_line_error(err, *fragments)
    assert not out.exists()  # nothing written


def test_missing_distribution_variables(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT", raising=False)
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    code, _, err = run(capsys, "tune", "mnist_convnet", *SAMPLE, "--out", str(tmp_path / "search"))
    assert code == 1
    assert_one_line_error(err, "KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID")


@pytest.mark.parametrize("trials,fragments", [(2, ["No trial succeeded", "RuntimeError: boom"]),
                                              (3, ["3 trials in a row failed", "RuntimeError: boom"])])
def test_failing_trials_end_with_one_line(tmp_path, capsys, monkeypatch, trials, fragments):
    def explode(self, hp, model, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tuning.ZooHyperModel, "fit", explode)
    code, stdout, err = run(capsys, "tune", "mnist_convnet", *SAMPLE, "--max-trials", str(trials),
                            "--out", str(tmp_path / "search"))
    assert code == 1
    assert_one_line_error(err, *fragments)


def test_bayesian_without_scikit_learn(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as when the extra is not installed
    out = tmp_path / "search"
    code, stdout, err = run(capsys, "tune", "mnist_convnet", *SAMPLE, "--tuner", "bayesian", "--out", str(out))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "keras-zoo[bayesian]", "Received: tuner='bayesian'")
    assert not out.exists()


@pytest.mark.parametrize("ip,port,tuner_id,fragment", [
    ("127.0.0.1", "99999", "chief", "Received: KERASTUNER_ORACLE_PORT='99999'"),  # a chief listened elsewhere
    ("127.0.0.1", "abc", "tuner0", "Received: KERASTUNER_ORACLE_PORT='abc'"),  # a worker waited its whole timeout
    ("", "8000", "chief", "Received: KERASTUNER_ORACLE_IP=''"),
])
def test_a_chief_address_that_cannot_be_is_refused(tmp_path, capsys, monkeypatch, ip, port, tuner_id, fragment):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", ip)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", port)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
    out = tmp_path / "search"
    code, stdout, err = run(capsys, "tune", "mnist_convnet", *SAMPLE, "--chief-timeout", "30", "--out", str(out))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, fragment)
    assert not out.exists()


@pytest.mark.parametrize(
    "content,reason", [("garbage", "Expecting value"), ("[]", "it holds a JSON list"), (None, "Is a directory")]
)
def test_an_unreadable_search_file_is_refused(tmp_path, capsys, monkeypatch, content, reason):
    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)
    out = tmp_path / "search"
    out.mkdir()
    if content is None:  # a folder where the settings file should be
        (out / "search.json").mkdir()
    else:
        (out / "search.json").write_text(content)
    code, stdout, err = run(capsys, "tune", "mnist_convnet", *SAMPLE, "--epochs", "1", "--out", str(out))
    assert code == 1
    assert_one_line_error(err, "search.json", "is damaged, not the settings of a search", reason,
                          f"Received: search.json={str(out / 'search.json')!r}")
    if content is not None:
        assert (out / "search.json").read_text() == content
    assert not (out / "tuner").exists()


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_a_corrupt_tuner_folder_is_refused_by_name(tmp_path, capsys, monkeypatch):
    import shutil

    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)
    argv = ["tune", "mnist_convnet", *SAMPLE, "--max-trials", "1", "--epochs", "1", "--precision", "float32"]
    done = tmp_path / "done"
    assert run(capsys, *argv, "--out", str(done))[0] == 0
    corruptions = {
        "oracle.json": lambda p: (p / "oracle.json").write_text('{"truncated'),
        "trial.json": lambda p: (p / "trial_0" / "trial.json").write_text("[1, 2]"),
        "missing oracle.json": lambda p: (p / "oracle.json").unlink(),
    }
    for what, corrupt in corruptions.items():
        out = tmp_path / what.replace(" ", "_")
        shutil.copytree(done, out)
        corrupt(out / "tuner")
        code, _, err = run(capsys, *argv, "--max-trials", "2", "--out", str(out))
        assert code == 1, what
        assert "this is a bug" not in err, (what, err)
        assert_one_line_error(err, f"Cannot resume the search in {str(out / 'tuner')!r}", f"Received: out={str(out)!r}")
