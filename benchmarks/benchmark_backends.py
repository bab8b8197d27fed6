"""Backend benchmark: the same `zoo train` command on each Keras backend.

Runs, one after the other on this machine, `zoo train MODEL --dataset TASK
--data-dir DIR` with `KERAS_BACKEND` set to each backend installed here
(TensorFlow, JAX, PyTorch), times the whole command (Python start-up
included; JAX without the compiled programs the zoo keeps between runs, as
on a first run), and prints accuracy and wall time side by side, with each
backend's difference from TensorFlow. The recipe, the data and the tf.data
input pipeline are the same on every backend; only the backend computing the
model differs.

Target (issue 13): on each backend, top-1 within 0.3 points of TensorFlow's.
Single runs: the CIFAR-10 subset's 423 test images make one run's top-1
uncertain by about 2 points either way, so a gap there says little.

With --record, writes the figures to zoo/results.json (`backends.KEY.TASK`,
KEY this kind of machine, other kinds kept) and docs/benchmarks/backends.md.

    python benchmarks/benchmark_backends.py --data-dir ../shared/data --record
"""

import argparse
import datetime
import importlib.util
import json
import os
import sys
from pathlib import Path

from benchmark_training import TASKS, run_zoo, write_page

from zoo import bench
from zoo.registry import RESULTS_PATH, by_machine, machine_key, update_results

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
TARGET_POINTS = 0.3


def installed_backends() -> list[str]:
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def backend_env(backend: str) -> dict:
    """The environment of a run on `backend`. JAX's kept compilations are off
    (`zoo.cli.cache_jax_compilations`): each run compiles all it needs, as a
    first run does, and as every run did before the zoo kept them."""
    return {**os.environ, "KERAS_BACKEND": backend, "JAX_ENABLE_COMPILATION_CACHE": "false"}


def page_lines(section: dict) -> list[str]:
    """docs/benchmarks/backends.md: every task and backend on every kind of machine recorded."""
    lines = [
        "# Backend benchmark",
        "",
        "Measured by `python benchmarks/benchmark_backends.py --data-dir ../shared/data --record`: the same",
        "`zoo train` command with `KERAS_BACKEND` set to each backend, one after the other on the machine",
        "named in each row. Wall time is the whole command, Python start-up included, JAX compiling all",
        "it needs as on a first run (`JAX_ENABLE_COMPILATION_CACHE=false`). The recipe and the",
        "tf.data input pipeline are the same on every backend. Single runs: on the CIFAR-10 subset's 423",
        "test images one run's top-1 is uncertain by about 2 points either way. *vs TensorFlow* compares",
        "a run with TensorFlow's on the same machine and day; `-` where that day has none.",
        "",
        "| task | machine | date | backend | versions | precision | top-1 | vs TensorFlow | wall | train | images/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, tasks in by_machine(section):
        for task, runs in tasks.items():
            tensorflow = runs.get("tensorflow", {})
            for backend, r in runs.items():
                # Against TensorFlow's run of the same day only: a row recorded alone keeps an older one beside it.
                same_day = tensorflow.get("measured") == r["measured"]
                gap = ("-" if not same_day or backend == "tensorflow"
                       else f"{100 * (r['accuracy'] - tensorflow['accuracy']):+.2f} pt")
                lines.append(
                    f"| {task} | {r['machine']} | {r['measured']} | {backend} | {r['versions']} | {r['precision']} "
                    f"| {r['accuracy']:.2%} | {gap} | {r['wall_seconds']:.0f} s | {r['train_seconds']:.0f} s "
                    f"| {r['images_per_second']:,.0f} |"
                )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--task", choices=sorted(TASKS), action="append", help="default: all")
    parser.add_argument("--backend", choices=BACKENDS, action="append", help="default: every one installed")
    parser.add_argument("--record", action="store_true", help="write zoo/results.json and docs/benchmarks/")
    parser.add_argument("--out", default="runs/benchmark-backends")
    args = parser.parse_args()
    data_dir = os.path.abspath(args.data_dir)
    backends = args.backend or installed_backends()
    missing = [b for b in backends if importlib.util.find_spec(b) is None]
    if missing:
        sys.exit(f"benchmark: backend {missing[0]!r} is not installed. Received: --backend {missing[0]}")
    host, key, today = bench.machine(), machine_key(), datetime.date.today().isoformat()
    print(f"on {host} (figures recorded under {key!r}); backends {', '.join(backends)}", flush=True)
    results = {}
    # By default the tasks with a script reference (issue 12), not the zoo-against-zoo ones.
    for task in args.task or [t for t in TASKS if "reference_model" not in TASKS[t]]:
        runs = results.setdefault(task, {})
        for backend in backends:
            print(f"== {task} on {backend}: zoo train {TASKS[task]['model']} ...", flush=True)
            out = str(ROOT / args.out / task / backend)
            r = run_zoo(task, data_dir, out, args.data_dir, env=backend_env(backend))
            summary = json.loads((Path(out) / "summary.json").read_text())
            versions = summary["versions"]
            shown = [f"{p} {versions[p]}" for p in ("tensorflow", "jax", "torch") if p in versions]
            runs[backend] = {
                **{k: r[k] for k in ("accuracy", "wall_seconds", "train_seconds", "images_per_second", "epochs",
                                     "precision", "command")},
                "versions": ", ".join(shown), "measured": today, "machine": host, "machine_key": key,
            }
            gap = "" if backend == "tensorflow" or "tensorflow" not in runs else (
                f" | {100 * (r['accuracy'] - runs['tensorflow']['accuracy']):+.2f} pt vs TensorFlow "
                f"(target within {TARGET_POINTS})"
            )
            print(f"   {r['accuracy']:.2%} in {r['wall_seconds']:.1f} s wall, {r['train_seconds']:.1f} s training "
                  f"({r['images_per_second']:,.0f} images/s, {r['precision']}){gap}", flush=True)
    raw = ROOT / args.out / "results.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": host, "machine_key": key, "results": results}, indent=2) + "\n")
    print(f"raw results in {raw}")
    if args.record:
        def store(stored):
            section = stored.setdefault("backends", {}).setdefault(key, {})
            for task, runs in results.items():
                section.setdefault(task, {}).update(runs)

        update_results(store)
        write_page("backends.md", page_lines(json.loads(RESULTS_PATH.read_text())["backends"]))


if __name__ == "__main__":
    main()
