"""benchmarks/benchmark_export.py: the int8 drop judged with the images behind it."""

import sys

import pytest

import benchmark_export


def rows(keras_top1, int8_top1, **int8):
    return {"keras": {"top1": keras_top1, "latency_ms": 10.0}, "tflite_none": {"bytes": 300},
            "tflite_int8": {"top1": int8_top1, "latency_ms": 0.5, "bytes": 90, **int8}}


def test_a_drop_of_a_few_images_in_423_cannot_be_told_from_the_target():
    # 5 images lost and 2 gained: 0.71 points, as a cifar10_net export once dropped.
    result = {"targets": benchmark_export.targets(rows(0.7801, 0.7730, lost=5, gained=2), images=423)}
    drop = result["targets"]["int8_top1_drop"]
    assert drop["met"] is False and drop["value"] == 0.0071
    assert drop["lost"] == 5 and drop["gained"] == 2 and drop["interval"] == [-0.0051, 0.0193]
    line = benchmark_export.target_lines(result)[0]
    assert line.startswith("- int8_top1_drop: 0.0071 (target <= 0.003): NOT met; int8 wrong where Keras is right "
                           "on 5 of 423 test images, right where Keras is wrong on 2")
    assert line.endswith("cannot tell a drop of 0 from one at the target")


def test_many_images_settle_it_either_way():
    above = benchmark_export.targets(rows(0.99, 0.98, lost=520, gained=20), images=50_000)["int8_top1_drop"]
    assert above["interval"][0] > 0.003
    assert benchmark_export._paired(above).endswith("above the target at 95 %")
    within = benchmark_export.targets(rows(0.99, 0.99, lost=30, gained=30), images=50_000)["int8_top1_drop"]
    assert within["interval"][1] <= 0.003
    assert benchmark_export._paired(within).endswith("within the target at 95 %")


def test_records_without_the_counts_read_as_before():
    result = {"targets": benchmark_export.targets(rows(0.99, 0.99))}
    assert "interval" not in result["targets"]["int8_top1_drop"]
    assert benchmark_export.target_lines(result)[0] == "- int8_top1_drop: 0.0 (target <= 0.003): met"


def test_a_drop_at_the_target_meets_it():
    # 15 of 5,000 MNIST images: 0.9930 - 0.9900 is 0.0030000000000000027 in floats.
    drop = benchmark_export.targets(rows(0.9930, 0.9900))["int8_top1_drop"]
    assert drop["value"] == 0.003 and drop["met"] is True


@pytest.mark.parametrize("argv, fragment", [
    (["--task", "mnist_convnet", "--model", "foo"],
     "--model takes NAME=PATH with NAME one of the tasks run (mnist_convnet). Received: --model foo"),
    # A model for a task not run would be ignored.
    (["--task", "mnist_convnet", "--model", "vgg16=model.keras"], "Received: --model vgg16=model.keras"),
    (["--model", "vgg16=no/such.keras"], "--model vgg16: no such file. Received: --model vgg16=no/such.keras"),
    (["--runs", "0"], "Received: --runs 0 --vgg-epochs 2"),
    (["--vgg-epochs", "-1"], "Received: --runs 200 --vgg-epochs -1"),
    (["--data-dir", "no/such/dir"], "--data-dir: no official mnist files (train-images-idx3-ubyte[.gz]"),
])
def test_bad_input_is_one_line(monkeypatch, capsys, argv, fragment):
    monkeypatch.setattr(sys, "argv", ["benchmark_export.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        benchmark_export.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("benchmark_export.py: error:") and fragment in err, err


def test_a_record_names_the_command_it_ran_with(monkeypatch, tmp_path):
    """Every record said `... --data-dir ../shared/data --record`, whatever --task, --runs or --model it ran with."""
    stored = {}
    monkeypatch.setattr(benchmark_export, "update_results", lambda update: update(stored))
    monkeypatch.setattr(benchmark_export, "write_page", lambda *a: None)
    monkeypatch.setattr(benchmark_export, "RESULTS_PATH", tmp_path / "results.json")
    (tmp_path / "results.json").write_text('{"models": {}}')
    argv = ["--data-dir", "../shared/data", "--task", "mnist_convnet", "--runs", "50", "--record"]
    benchmark_export.record({"mnist_convnet": {}}, "a CPU", "cpu", "2026-12-07", 50,
                            command=benchmark_export.run_command(argv))
    assert stored["models"]["mnist_convnet"]["export"]["cpu"]["command"] == (
        "python benchmarks/benchmark_export.py --data-dir ../shared/data --task mnist_convnet --runs 50 --record")
