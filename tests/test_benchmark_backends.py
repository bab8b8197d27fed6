"""benchmarks/benchmark_backends.py: the backends' page compares runs of one day."""

import pytest

import benchmark_backends


def row(accuracy, measured):
    return {"accuracy": accuracy, "measured": measured, "machine": "a CPU", "versions": "keras 3",
            "precision": "float32", "wall_seconds": 60.0, "train_seconds": 50.0, "images_per_second": 1000.0}


@pytest.mark.parametrize("jax_day, gap", [("2026-12-02", "-1.00 pt"), ("2026-12-07", "-")])
def test_the_gap_to_tensorflow_is_of_the_same_days_runs(jax_day, gap):
    """A JAX run recorded alone was compared with a TensorFlow run of another day."""
    section = {"cpu": {"mnist": {"tensorflow": row(0.99, "2026-12-02"), "jax": row(0.98, jax_day)}}}
    jax = next(line for line in benchmark_backends.page_lines(section) if "| jax |" in line)
    assert jax.split(" | ")[7] == gap


def test_each_run_compiles_all_it_needs():
    """The zoo keeps JAX's compilations between runs; the benchmark's runs do
    without them, as a first run and the runs recorded before it did."""
    env = benchmark_backends.backend_env("jax")
    assert env["KERAS_BACKEND"] == "jax" and env["JAX_ENABLE_COMPILATION_CACHE"] == "false"
