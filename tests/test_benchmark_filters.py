"""benchmarks/benchmark_filters.py: both paths, the machine, and bad input in one line."""

import sys

import pytest

import benchmark_filters

from zoo import bench


def main(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["benchmark_filters.py", *argv])
    benchmark_filters.main()


def test_both_paths_are_printed_with_the_machine(monkeypatch, capsys):
    main(monkeypatch, "--batch", "2", "--repeats", "1")
    out = capsys.readouterr().out
    assert out.startswith("LeungMalikFilters on 2 real 64x64 images: dense ") and " DFT " in out
    assert out.rstrip().endswith(f"| on {bench.machine()}"), out


@pytest.mark.parametrize("argv, fragment", [
    # The sample holds 200 test images: 500 would filter 200 and say 500.
    (["--batch", "500"], "--batch must be at most 200, the test images of cifar10:sample. Received: --batch 500"),
    (["--repeats", "0"], "Received: --batch 32 --repeats 0"),
])
def test_bad_input_is_one_line(monkeypatch, capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit_:
        main(monkeypatch, *argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("benchmark_filters.py: error:") and fragment in err, err


def test_a_record_names_the_command_it_ran_with(monkeypatch, capsys):
    """It recorded `... --record` whatever --batch and --repeats it ran with."""
    stored = {}
    monkeypatch.setattr(benchmark_filters, "update_results", lambda update: update(stored))
    main(monkeypatch, "--batch", "2", "--repeats", "1", "--record")
    (figures,) = stored["layers"]["LeungMalikFilters"].values()
    assert figures["command"] == "python benchmarks/benchmark_filters.py --batch 2 --repeats 1 --record"
    assert figures["images"].startswith("2 x 64x64x1")
