"""`zoo train`: outputs, resuming after SIGKILL, seeds, NaN, strategies, bad input."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
from conftest import assert_one_line_error, needs_bfloat16
from test_cli import _console_script, run

from zoo import data as zoo_data
from zoo import training
from zoo.precision import choose_precision, current_device

SAMPLE = ["--dataset", "mnist:sample"]
# What "auto" picks here, and a precision it does not pick.
AUTO = choose_precision("auto").name
OTHER = "float32" if AUTO != "float32" else ("float16" if current_device().bfloat16_held_back else "bfloat16")


def _history(out):
    with open(out / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "2", "--out", str(out))
    assert code == 0, err
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("mnist_convnet: test accuracy") and str(out) in last
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.8  # it learned: chance is 0.1
    assert summary["epochs"] == summary["epochs_run"] == 2
    # The recipe trains on every training image: no validation split.
    assert summary["records"] == {"train": 4000, "validation": 0, "test": 1000}
    assert summary["command"].startswith("zoo train mnist_convnet")
    assert summary["images_per_second"] > 0 and summary["train_seconds"] > 0
    assert {"tensorflow", "keras", "keras-zoo"} <= set(summary["versions"])
    assert summary["precision"] == AUTO and summary["precision_reason"].startswith(choose_precision("auto").reason)
    assert summary["device"]["description"] == current_device().describe()
    assert stdout.startswith(f"precision {AUTO}: {summary['precision_reason']}; on {current_device().describe()}\n")
    rows = _history(out)
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert {"loss", "accuracy", "learning_rate", "seconds"} <= set(rows[0])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((out / "logs").rglob("events.out.tfevents.*"))
    assert not (out / "backup").exists()  # dropped once the run is complete
    model = keras.saving.load_model(out / "model.keras")
    assert model.dtype_policy.name == "float32" and model.output_shape == (None, 10)
    assert not [p for p in out.iterdir() if "partial" in p.name]


def test_resumes_after_sigkill(tmp_path):
    out = tmp_path / "run"
    command = _console_script() + ["train", "mnist_convnet", *SAMPLE, "--epochs", "4", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "backup").glob("epoch-0002.weights.h5")):
        assert process.poll() is None and time.monotonic() < deadline, "training ended early"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # during the third epoch
    process.wait()
    assert not (out / "model.keras").exists()
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["epoch"] for r in _history(out)] == ["0", "1", "2", "3"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["epochs_run"] == 2
    keras.saving.load_model(out / "model.keras")


def test_a_run_stopped_after_its_last_backup_finishes_from_disk(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = ["train", "mnist_convnet", *SAMPLE, "--epochs", "2", "--out", str(out)]

    def interrupted(*args, **kwargs):  # as a Ctrl-C while the run writes its outputs
        raise KeyboardInterrupt

    monkeypatch.setattr(training.figures, "draw_curves", interrupted)
    assert run(capsys, *argv)[0] == 130
    assert (out / "backup" / "epoch-0002.weights.h5").exists()
    first = json.loads((out / "summary.json").read_text())

    # The same command finishes from the backup: no epoch runs again.
    monkeypatch.undo()
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["epochs_run"] == 0
    assert summary["test_accuracy"] == first["test_accuracy"]
    assert [r["epoch"] for r in _history(out)] == ["0", "1"]
    assert (out / "curves.png").exists() and not (out / "backup").exists()

    # So does a rerun asking for fewer epochs than the backup holds: the
    # model stays the one trained for 2.
    monkeypatch.setattr(training.figures, "draw_curves", interrupted)
    out2 = tmp_path / "run2"
    assert run(capsys, *argv[:-1], str(out2))[0] == 130
    monkeypatch.undo()
    code, stdout, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--out", str(out2))
    assert code == 0, err
    assert "after 2 epochs" in stdout
    summary = json.loads((out2 / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["epochs_run"] == 0
    assert [r["epoch"] for r in _history(out2)] == ["0", "1"] and not (out2 / "backup").exists()


@pytest.mark.parametrize(
    "flags,fragments",
    [
        (["--dataset", "cifar10:sample"], ["dataset='the mnist sample shipped", "Received: dataset='the cifar10"]),
        ([*SAMPLE, "--lr", "0.005"], ["lr=0.01", "Received: lr=0.005"]),
        ([*SAMPLE, "--batch-size", "32"], ["batch_size=64", "Received: batch_size=32"]),
        ([*SAMPLE, "--seed", "3"], ["seed=None", "Received: seed=3"]),
        ([*SAMPLE, "--precision", OTHER], [f"precision={AUTO!r}", f"Received: precision={OTHER!r}"]),
    ],
)
def test_a_resume_refuses_other_settings(tmp_path, capsys, flags, fragments):
    out = tmp_path / "run"
    # An unfinished run of the recipe, as a run killed mid-way leaves it.
    settings = training._prepare(
        "mnist_convnet", training.get_recipe("mnist_convnet"), dataset="mnist:sample", data_dir=None,
        epochs=None, batch_size=None, lr=None, seed=None, strategy=None, out=out, image_size=None,
    )
    training._start(settings, strategy=None)
    (out / "backup" / "epoch-0001.weights.h5").write_bytes(b"held")
    code, stdout, err = run(capsys, "train", "mnist_convnet", *flags, "--out", str(out))
    assert code == 1 and stdout == ""
    assert_one_line_error(err, f"{str(out)!r} holds a run with", "start afresh", *fragments)
    assert sorted(p.name for p in out.rglob("*")) == ["backup", "epoch-0001.weights.h5", "run.json"]


@pytest.mark.parametrize("precision", ["float32", "float16"])
def test_precision_asked_for_is_printed_first_and_recorded(tmp_path, capsys, precision):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--precision", precision,
                            "--out", str(out))
    assert code == 0, err
    assert stdout.splitlines()[0] == f"precision {precision}: asked for with --precision; on {current_device().describe()}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["precision"] == precision and summary["test_accuracy"] > 0.5
    model = keras.saving.load_model(out / "model.keras")  # float16 trained with loss scaling, saved float32
    assert model.dtype_policy.name == "float32"


def test_out_that_is_a_file(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    for out, fragment in ((taken, "is a file, not a folder"), (taken / "run", f"{str(taken)!r} is a file")):
        code, stdout, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--out", str(out))
        assert code == 1 and stdout == ""
        assert_one_line_error(err, str(out), fragment, "Received: out=")
        assert "Errno" not in err
    assert taken.read_text() == "mine" and os.listdir(tmp_path) == ["taken"]


def test_a_finished_run_is_replaced_only_by_one_of_the_same_settings(tmp_path, capsys):
    """Run again on a finished run with other settings, `zoo train` trained
    anew and replaced its model and summary, exit 0."""
    out = tmp_path / "run"
    argv = ["train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--precision", "float32", "--out", str(out)]
    assert run(capsys, *argv)[0] == 0
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["lr"] == training.get_recipe("mnist_convnet").lr and settings["model"] == "mnist_convnet"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    for extra, key in ((["--lr", "0.1"], "lr=0.1"), (["--dataset", "cifar10:sample"], "dataset='the cifar10")):
        code, stdout, err = run(capsys, *argv, *extra)
        assert code == 1 and stdout == ""
        assert_one_line_error(err, "holds a finished run with", "delete that folder to train again",
                              f"Received: {key}")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # The same settings (another precision and number of epochs among them) train it afresh.
    assert run(capsys, *argv[:-4], "--epochs", "2", "--out", str(out))[0] == 0
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2


def test_epoch_log_keeps_each_epoch_once_across_resumes(tmp_path):
    path = str(tmp_path / "history.csv")

    def run_epochs(first, last, **constants):
        log = training.EpochLog(path, **constants)
        for epoch in range(first, last):
            log.on_epoch_begin(epoch)
            log.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})

    run_epochs(0, 3)  # killed after epoch 2's row was written, before its backup
    run_epochs(2, 5)  # so the run resumes at epoch 2 and writes it again
    rows = list(csv.DictReader(open(path, newline="")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert float(rows[2]["loss"]) == 1 / 3


def test_seed_makes_a_cpu_run_reproducible(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np, keras
        from zoo import training
        training.train("mnist_convnet", dataset="mnist:sample", epochs=1, seed=7, out=sys.argv[1], verbose=0)
        model = keras.saving.load_model(sys.argv[1] + "/model.keras")
        np.savez(sys.argv[1] + "/w.npz", *model.get_weights())
    """)
    weights = []
    for i in range(2):
        out = str(tmp_path / f"run{i}")
        done = subprocess.run([sys.executable, "-c", script, out], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        with np.load(out + "/w.npz") as f:
            weights.append([f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_and_keeps_the_last_good_model(tmp_path, monkeypatch):
    import tensorflow as tf

    real_one_hot = zoo_data.one_hot

    def poisoned(dataset, num_classes):
        # Targets turn NaN after the first epoch: the loss is NaN from there on.
        per_epoch = int(dataset.cardinality())
        seen = tf.Variable(0, dtype=tf.int64)

        @tf.autograph.experimental.do_not_convert
        def poison(x, y):
            i = seen.assign_add(1)
            return x, tf.cond(i > per_epoch, lambda: y * np.nan, lambda: y)

        return real_one_hot(dataset, num_classes).map(poison)

    monkeypatch.setattr(zoo_data, "one_hot", poisoned)
    out = tmp_path / "run"
    with pytest.raises(FloatingPointError, match="NaN at epoch 2") as info:
        training.train("mnist_convnet", dataset="mnist:sample", epochs=3, out=out, verbose=0)
    assert "after epoch 1" in str(info.value) and str(out / "model.keras") in str(info.value)
    assert [r["epoch"] for r in _history(out)] == ["0"]  # the NaN epoch gets no row
    model = keras.saving.load_model(out / "model.keras")
    (_, _), (x_test, y_test), _ = zoo_data.read_sample("mnist:sample")
    probabilities = model.predict(x_test[:200], verbose=0)
    assert np.isfinite(probabilities).all()
    assert (probabilities.argmax(1) == y_test[:200]).mean() > 0.5  # epoch 1's model, trained


def test_nan_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--lr", "1e30", "--out", str(out))
    assert code == 1
    assert_one_line_error(err.strip().splitlines()[-1], "NaN", "untrained model", "--lr", "with another --out", str(out / "model.keras"))
    # 4,000 images in batches of 64: 62 steps, run 64 to a compiled call.
    where = re.search(r"NaN at epoch 1, batch(?:es (\d+)-| )(\d+) of 62;", err)
    assert where and 1 <= int(where[1] or where[2]) <= int(where[2]) <= 62, err
    assert not (out / "history.csv").exists()  # no epoch was completed
    model = keras.saving.load_model(out / "model.keras")  # the starting weights, not the diverged ones
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent("""
        import sys, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from zoo import training
        s = training.train("mnist_convnet", dataset="mnist:sample", epochs=1, strategy="mirrored",
                           batch_size=64, out=sys.argv[1], verbose=0)
        assert s["replicas"] == 2 and s["test_accuracy"] > 0.5, s
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / "model.keras").exists()


def test_multiworker_strategy_on_localhost(tmp_path):
    """Two workers from TF_CONFIG on one machine; the chief writes the outputs."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "run"
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            _console_script() + ["train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--batch-size", "64",
                                 "--strategy", "multiworker", "--out", str(out)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for p in processes:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicas"] == 2 and summary["strategy"] == "multiworker"
    assert not (out / "worker-1").exists()


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["train", "resnet51"], ["Received: name='resnet51'"]),
        (["train", "mnist_convnet", "--epochs", "0"], ["Received: epochs=0"]),
        (["train", "mnist_convnet", "--lr", "-1"], ["Received: lr=-1.0"]),
        (["train", "mnist_convnet", "--batch-size", "0"], ["Received: batch_size=0"]),
        (["train", "mnist_convnet", "--seed", "-3"], ["Received: seed=-3"]),
        (["train", "mnist_convnet", "--dataset", "mnist", "--data-dir", "/no/such/dir"], ["/no/such/dir"]),
        (["train", "mnist_convnet", "--strategy", "multiworker", *SAMPLE], ["TF_CONFIG"]),
        (["train", "mnist_convnet", "--epochs", "two"], ["invalid int value: 'two'"]),
        (["train", "mnist_convnet", "--strategy", "ring"], ["invalid choice: 'ring'"]),
        (["train", "mnist_convnet", "--image-size", "0x3"], ["'0x3'"]),
    ],
)
def test_bad_input(tmp_path, capsys, monkeypatch, argv, fragments):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    out = tmp_path / "run"
    code, stdout, err = run(capsys, *argv, "--out", str(out))
    assert code in (1, 2) and stdout == ""
    assert_one_line_error(err, *fragments)
    assert not out.exists()  # nothing half-written


def test_finetune_vgg16_on_an_image_folder(tmp_path, capsys):
    """Two phases on real images, from a local weights file: no download."""
    from conftest import save_keras_applications_h5
    from test_data import write_image_folder

    folder = write_image_folder(tmp_path / "images", per_class=16)
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    weights = save_keras_applications_h5(reference, str(tmp_path / "vgg16_notop.h5"))
    out = tmp_path / "run"
    code, stdout, err = run(
        capsys, "finetune", "vgg16", "--data-dir", str(folder), "--weights", weights, "--image-size", "32",
        "--epochs", "1", "--fine-epochs", "1", "--batch-size", "16", "--out", str(out),
    )
    assert code == 0, err
    assert stdout.strip().splitlines()[-1].startswith("vgg16: test accuracy")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and [p["phase"] for p in summary["phases"]] == [1, 2]
    assert summary["classes"] == ["cat", "dog", "frog"]
    rows = _history(out)
    assert [(r["epoch"], r["phase"]) for r in rows] == [("0", "1"), ("1", "2")]
    assert {"val_loss", "val_accuracy"} <= set(rows[0])  # the recipe holds out 10 %
    model = keras.saving.load_model(out / "model.keras")
    assert model.output_shape == (None, 3)
    for block in range(1, 6):
        layer = f"block{block}_conv1"
        same = np.array_equal(model.get_layer(layer).kernel, reference.get_layer(layer).kernel)
        assert same == (block < 5), layer  # only the top block trained, in phase 2


@pytest.mark.parametrize(
    "name,theirs,top,below",
    [
        ("mobilenet_v2", "MobileNetV2", "block_13_expand", "block_12_project"),
        pytest.param("resnet50", "ResNet50", "conv5_block1_1_conv", "conv4_block6_3_conv", marks=pytest.mark.slow),
    ],
)
def test_finetune_a_batch_normalised_model_on_an_image_folder(tmp_path, capsys, name, theirs, top, below):
    """`zoo finetune mobilenet_v2` on real images from a local keras.applications
    file: phase 2 trains the top stage only, and batch normalisation keeps
    its pretrained statistics in both phases."""
    from conftest import save_keras_applications_h5
    from test_data import write_image_folder

    folder = write_image_folder(tmp_path / "images", per_class=16)
    from conftest import calibrate_batch_norm, pixels

    reference = getattr(keras.applications, theirs)(weights=None, include_top=False, input_shape=(32, 32, 3))
    # Statistics of real-looking images, far from the fresh 0 and 1, in which
    # a deep network's features vanish and nothing would train.
    preprocess = getattr(keras.applications, theirs.lower().replace("v2", "_v2")).preprocess_input
    calibrate_batch_norm(reference, preprocess(pixels((64, 32, 32, 3)).astype("float32")))
    weights = save_keras_applications_h5(reference, str(tmp_path / f"{name}_notop.h5"))
    out = tmp_path / "run"
    code, stdout, err = run(
        capsys, "finetune", name, "--data-dir", str(folder), "--weights", weights, "--image-size", "32",
        "--epochs", "1", "--fine-epochs", "1", "--batch-size", "16", "--out", str(out),
    )
    assert code == 0, err
    assert stdout.strip().splitlines()[-1].startswith(f"{name}: test accuracy")
    summary = json.loads((out / "summary.json").read_text())
    assert [p["phase"] for p in summary["phases"]] == [1, 2] and summary["classes"] == ["cat", "dog", "frog"]
    model = keras.saving.load_model(out / "model.keras")
    assert model.output_shape == (None, 3)

    def same(layer):
        return np.array_equal(model.get_layer(layer).kernel, reference.get_layer(layer).kernel)

    assert not same(top) and same(below)  # the top stage trained in phase 2, no lower one
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for ours, theirs_w in zip(model.get_layer(layer.name).weights, layer.weights):
                np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs_w), err_msg=layer.name)


def test_finetune_refuses_models_without_pretrained_weights(capsys, tmp_path):
    code, _, err = run(capsys, "finetune", "mnist_convnet", "--data-dir", str(tmp_path))
    assert code == 1
    assert_one_line_error(err, "No fine-tuning recipe", "Received: model='mnist_convnet'")


@needs_bfloat16
def test_a_trained_cifar10_net_keeps_its_whitened_stem_frozen(tmp_path):
    """The saved model is rebuilt in float32 after a bfloat16 run: the stem
    stays the frozen whitening bank it trained with."""
    summary = training.train("cifar10_net", dataset="cifar10:sample", epochs=1, precision="bfloat16",
                             out=tmp_path, verbose=0)
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert summary["recipe"]["whitening"] is True and summary["precision"] == "bfloat16"
    assert model.dtype_policy.name == "float32" and not model.compiled
    assert model.get_layer("stem_conv").trainable is False
    assert all(layer.trainable for layer in model.layers if layer.name.endswith("_conv") and layer.name != "stem_conv")
    # What the summary scores is the saved float32 model, its BatchNorm
    # statistics recomputed over the plain training images: a second pass
    # over the same batches leaves them as they are.
    data = zoo_data.load_dataset("cifar10:sample", batch_size=summary["batch_size"], validation_split=0.0)
    training._compile_evaluation(model, training.get_recipe("cifar10_net"))
    scores = model.evaluate(zoo_data.one_hot(data.test, data.num_classes), verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)
    assert summary["recipe"]["recompute_batchnorm"] is True
    saved = [np.asarray(v) for v in model.weights if "moving" in v.path]
    assert len(saved) == 12  # the mean and variance of 6 BatchNorm layers
    assert training.update_batchnorm_statistics(model, data.plain_train) == len(data.plain_train)
    for before, after in zip(saved, [np.asarray(v) for v in model.weights if "moving" in v.path]):
        np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)


def _batchnorm_model(frozen=False):
    inputs = keras.Input((3,))
    norm = keras.layers.BatchNormalization(momentum=0.9, name="norm")
    norm.trainable = not frozen
    x = keras.layers.Dense(4, kernel_initializer="ones", name="dense")(inputs)
    return keras.Model(inputs, keras.layers.Dropout(0.0)(norm(x)))


def test_batchnorm_statistics_become_the_average_over_the_images_and_nothing_else_moves():
    model = _batchnorm_model()
    weights = [np.asarray(w) for w in model.get_layer("dense").weights]
    rng = np.random.default_rng(0)
    batches = [(rng.normal(2.0, 3.0, (n, 3)).astype("float32"), np.zeros(n)) for n in (8, 8, 3)]
    assert training.update_batchnorm_statistics(model, batches) == 3
    norm = model.get_layer("norm")
    units = [b[0].sum(-1) for b in batches]  # each unit of each batch sums the three inputs
    x = np.concatenate(units)
    np.testing.assert_allclose(np.asarray(norm.moving_mean), np.full(4, x.mean()), rtol=1e-5)
    expected_variance = sum(len(u) * u.var() for u in units) / len(x)  # the batches' variances, weighted
    np.testing.assert_allclose(np.asarray(norm.moving_variance), np.full(4, expected_variance), rtol=1e-4)
    assert norm.momentum == 0.9
    for before, after in zip(weights, model.get_layer("dense").weights):
        np.testing.assert_array_equal(np.asarray(after), before)


def test_frozen_or_absent_batchnorm_layers_read_no_batches():
    def unread():
        raise AssertionError("the batches were read")
        yield

    frozen = _batchnorm_model(frozen=True)
    assert training.update_batchnorm_statistics(frozen, unread()) == 0
    np.testing.assert_array_equal(np.asarray(frozen.get_layer("norm").moving_mean), np.zeros(4))
    inputs = keras.Input((3,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert training.update_batchnorm_statistics(plain, unread()) == 0


def test_auto_times_the_model_once_per_machine(tmp_path, capsys, monkeypatch):
    from zoo.precision import CACHE_ENV, PROBE_ENV, PROBE_MARGIN, candidates

    monkeypatch.setenv(PROBE_ENV, "1")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "precision.json"
    code, stdout, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--out", str(tmp_path / "a"))
    assert code == 0, err
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    options = candidates(current_device())
    if len(options) == 1:  # float32 alone is safe here (an AVX2-only CPU, say): nothing to time
        assert "timing" not in stdout and not cache.exists() and summary["precision"] == "float32"
        assert summary["precision_probe"] is None
        return
    assert stdout.startswith("timing a few training steps in ") and cache.exists()
    (entry,) = json.loads(cache.read_text())["probes"].values()
    rates = entry["rates"]
    faster = options[0] if rates[options[0]] >= PROBE_MARGIN * rates["float32"] else "float32"
    assert summary["precision"] == faster and f"{rates['float32']:,.0f} in float32" in summary["precision_reason"]
    assert entry["key"]["model"] == "mnist_convnet" and entry["key"]["input_shape"] == [28, 28, 1]
    assert summary["precision_probe"]["cached"] is False
    assert summary["precision_probe"]["rates"] == {k: round(v, 1) for k, v in rates.items()}
    # A second run takes the cached rates: nothing is timed again.
    code, stdout, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--out", str(tmp_path / "b"))
    assert code == 0, err
    again = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert "timing" not in stdout and again["precision"] == faster and "cached" in again["precision_reason"]
    assert again["precision_probe"]["cached"] is True


def test_a_resumed_run_keeps_its_precision(tmp_path, monkeypatch):
    from zoo import bench

    def no_probe(*args, **kwargs):
        raise AssertionError("timed a resumed run")

    monkeypatch.setattr(bench, "choose_model_precision", no_probe)
    out = tmp_path / "run"
    (out / "backup").mkdir(parents=True)
    (out / "backup" / "run.json").write_text(json.dumps({"model": "mnist_convnet", "precision": OTHER}))
    recipe = training.get_recipe("mnist_convnet")
    chosen = training._choose_precision("auto", "mnist_convnet", recipe, None, 64, {}, out=out,
                                        resume_file=training.RUN_FILE, progress=None, probe=True)
    assert chosen.name == OTHER and "resumed" in chosen.reason
    # Asked for explicitly, the precision is the one asked for (and resuming then checks it).
    assert training._choose_precision("float32", "mnist_convnet", None, None, 64, {}, out=out,
                                      resume_file=training.RUN_FILE, progress=None, probe=True).name == "float32"
    # Each command reads its own record: a search's precision is not a run's.
    (out / "backup" / "run.json").unlink()
    (out / "search.json").write_text(json.dumps({"model": "mnist_convnet", "precision": OTHER}))
    assert training._choose_precision("auto", "mnist_convnet", recipe, None, 64, {}, out=out,
                                      resume_file="search.json", progress=None, probe=True).name == OTHER
    chosen = training._choose_precision("auto", "mnist_convnet", recipe, None, 64, {}, out=out,
                                        resume_file=training.RUN_FILE, progress=None, probe=False)
    assert "resumed" not in chosen.reason


def test_an_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    """`--out ""` is the current folder to pathlib, while the result line named runs/MODEL/."""
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--out", "")
    assert code == 1 and stdout == ""
    assert_one_line_error(err, "Received: out=''")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backup_is_a_file", [False, True])
def test_a_backup_folder_that_is_not_a_runs_is_kept(tmp_path, capsys, backup_is_a_file):
    """A run deletes out/backup when it completes: someone else's must stay."""
    out = tmp_path / "project"
    out.mkdir()
    if backup_is_a_file:
        (out / "backup").write_text("mine")
    else:
        (out / "backup").mkdir()
        (out / "backup" / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "train", "mnist_convnet", *SAMPLE, "--epochs", "1", "--precision", "float32",
                       "--out", str(out))
    assert code == 1
    assert_one_line_error(err, "not a zoo run's", f"Received: out={str(out)!r}")
    assert sorted(p.name for p in out.rglob("*")) == (["backup"] if backup_is_a_file else ["backup", "notes.txt"])


def test_damaged_resume_files_are_one_line_errors(tmp_path):
    from zoo.callbacks import EpochLog, ResumableBackup, check_resumable

    settings = tmp_path / "backup" / "run.json"
    settings.parent.mkdir()
    for text, reason in (('{"model": "mnist_co', "Unterminated string"), ("[1, 2]", "it holds a JSON list"),
                         (b"\xff\xfe{", "can't decode byte")):
        settings.write_bytes(text) if isinstance(text, bytes) else settings.write_text(text)
        with pytest.raises(ValueError, match=rf"is damaged, not the settings of a run \(.*{reason}.*Received: run.json="):
            check_resumable(settings, {"model": "mnist_convnet"}, folder=tmp_path)
    history = tmp_path / "history.csv"
    history.write_text("foo,bar\n1,2\n")
    with pytest.raises(ValueError, match=r"not the history.csv of a run.*Received: path="):
        EpochLog(str(history)).keep(before=0)
    assert history.read_text() == "foo,bar\n1,2\n"

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    backup = ResumableBackup(str(tmp_path / "backup"))
    backup.set_model(model)
    (tmp_path / "backup" / "epoch-00x1.weights.h5").write_text("not ours")  # ignored
    assert backup.latest() is None
    model.save_weights(str(tmp_path / "backup" / "epoch-10000.weights.h5"))
    (tmp_path / "backup" / "epoch-9999.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    assert backup.latest() == (10000, str(tmp_path / "backup" / "epoch-10000.weights.h5"))
    os.remove(tmp_path / "backup" / "epoch-10000.weights.h5")
    with pytest.raises(ValueError, match=r"Cannot resume from the backup .*Received: backup=.*epoch-9999"):
        backup._load_model()
    # A backup of another model: Keras' reason, which names every layer it could not load, is cut.
    other = keras.Sequential([keras.Input((8,))] + [keras.layers.Dense(8, name=f"layer{i}") for i in range(30)])
    os.remove(tmp_path / "backup" / "epoch-9999.weights.h5")
    other.save_weights(str(tmp_path / "backup" / "epoch-00003.weights.h5"))
    with pytest.raises(ValueError, match=r"from another model \(ValueError: .{,200}\): delete") as info:
        backup._load_model()
    assert len(str(info.value)) < 600 and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "field,value",
    [("optimizer", "adam"), ("optimizer", "SGD"), ("warmup", 1.5), ("epochs", 0), ("batch_size", 2.0),
     ("lr", 0), ("label_smoothing", -0.1), ("augment", "digit"), ("precision", "fp16")],
)
def test_a_recipe_refuses_nonsense(field, value):
    """An unknown optimizer trained AdamW without a word."""
    base = {"dataset": "mnist", "epochs": 1, "batch_size": 64, "lr": 1e-2}
    with pytest.raises(ValueError, match=re.escape(f"Received: {field}={value!r}")):
        training.Recipe(**{**base, field: value})
    for recipe in [*training.RECIPES.values(), *(r for r, _ in training.FINETUNE_RECIPES.values())]:
        assert training.Recipe(**{f: getattr(recipe, f) for f in recipe.__dataclass_fields__}) == recipe


def test_the_precision_probe_times_the_batch_that_trains(tmp_path, monkeypatch):
    """A batch larger than the training set trains as one batch of it all; the
    probe made up 100,000 images of it and ran out of memory (a segfault)."""
    seen = {}

    def choose(precision, name, recipe, data, batch_size, kwargs, **rest):
        seen["batch_size"] = batch_size
        return choose_precision("float32")

    monkeypatch.setattr(training, "_choose_precision", choose)
    run_ = training._prepare("mnist_convnet", training.get_recipe("mnist_convnet"), dataset="mnist:sample",
                             data_dir=None, epochs=1, batch_size=100_000, lr=None, seed=None, strategy=None,
                             out=tmp_path / "run", image_size=None)
    assert seen["batch_size"] == run_.data.counts["train"] == 4000


@pytest.mark.parametrize("problem", ["weights", "image size"])
def test_finetune_fails_on_its_weights_and_input_before_the_precision_probe(tmp_path, monkeypatch, problem):
    """Offline, `--weights imagenet` failed after a minute of timing VGG-16
    at 224x224; an image size too small warned of bfloat16 first."""
    from conftest import save_keras_applications_h5
    from test_data import write_image_folder

    def probe(*args, **kwargs):
        raise AssertionError("the precision was probed first")

    monkeypatch.setattr(training, "_choose_precision", probe)
    folder = write_image_folder(tmp_path / "images", per_class=4)
    if problem == "weights":
        weights, size, error = str(tmp_path / "vgg16_notop.h5"), (32, 32), "Could not read keras.applications weights"
        (tmp_path / "vgg16_notop.h5").write_text("not HDF5")
    else:
        reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
        weights, size, error = save_keras_applications_h5(reference, str(tmp_path / "w.h5")), (16, 16), "at least 32"
    with pytest.raises(ValueError, match=error):
        training.finetune("vgg16", data_dir=str(folder), weights=weights, image_size=size, epochs=1, fine_epochs=1,
                          out=str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run").exists()


def test_finetune_keeps_the_float32_model_it_checked_when_float32_is_chosen(tmp_path, monkeypatch):
    from conftest import save_keras_applications_h5
    from test_data import write_image_folder

    built = []
    finetune_model = training._finetune_model
    monkeypatch.setattr(training, "_finetune_model", lambda *a, **k: built.append(1) or finetune_model(*a, **k))
    folder = write_image_folder(tmp_path / "images", per_class=4)
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    weights = save_keras_applications_h5(reference, str(tmp_path / "w.h5"))
    summary = training.finetune("vgg16", data_dir=str(folder), weights=weights, image_size=(32, 32), epochs=1,
                                fine_epochs=1, batch_size=8, out=str(tmp_path / "run"), verbose=0,
                                precision="float32")
    assert summary["precision"] == "float32" and len(built) == 1


def test_finetune_resumed_in_phase_2_keeps_its_history(tmp_path, monkeypatch):
    """Phase 1's backup, restored with no epoch to run, trimmed history.csv
    to its own epochs: the completed epochs of phase 2 were lost."""
    from conftest import save_keras_applications_h5
    from test_data import write_image_folder

    folder = write_image_folder(tmp_path / "images", per_class=16)
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    weights = save_keras_applications_h5(reference, str(tmp_path / "vgg16_notop.h5"))
    out = tmp_path / "run"
    settings = dict(data_dir=str(folder), weights=weights, image_size=(32, 32), epochs=1, fine_epochs=2,
                    batch_size=16, out=str(out), verbose=0, precision="float32")
    finish = training._finish

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "_finish", killed)  # killed after phase 2's last backup
    with pytest.raises(KeyboardInterrupt):
        training.finetune("vgg16", **settings)
    monkeypatch.setattr(training, "_finish", finish)
    with pytest.raises(ValueError, match=r"holds a run with epochs=1: resume it with the same settings.*"
                                         r"Received: epochs=2$"):
        training.finetune("vgg16", **{**settings, "epochs": 2})  # phase 2 was numbered after phase 1's 1 epoch
    with pytest.raises(ValueError, match=r"holds a run in phase 2, whose epochs fine_epochs=0 would throw away"):
        training.finetune("vgg16", **{**settings, "fine_epochs": 0})  # restored phase 1's end, history trimmed
    summary = training.finetune("vgg16", **settings)
    assert [(r["epoch"], r["phase"]) for r in _history(out)] == [("0", "1"), ("1", "2"), ("2", "2")]
    assert summary["epochs"] == 3 and summary["epochs_run"] == 0
