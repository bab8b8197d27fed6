"""Training benchmark: `zoo train` against the Keras reference examples.

Runs, one after the other on this machine, each reference script and the
`zoo train` command with nothing but the dataset and data directory, times
the whole command (Python start-up included), and prints both sides and
their ratio. With --record, writes the figures to zoo/results.json (read by
`zoo.model_info`) and docs/benchmarks/training.md.

Targets (the training issue): MNIST subset, mnist_convnet >= 99.4 % in at
most half the reference's wall time; CIFAR-10 subset, cifar10_net >= 65 % in
at most half the reference's wall time.

    python recipes/benchmark_training.py --data-dir ../shared/data --record
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from zoo import bench
from zoo.registry import RESULTS_PATH, update_results

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "mnist": {
        "model": "mnist_convnet",
        "reference": "recipes/reference/keras_mnist_convnet.py",
        "reference_name": 'Keras "Simple MNIST convnet" (15 epochs)',
        "target_accuracy": 0.994,
    },
    "cifar10": {
        "model": "cifar10_net",
        "reference": "recipes/reference/keras_cifar10_cnn.py",
        "reference_name": "Keras cifar10_cnn (50 epochs)",
        "target_accuracy": 0.65,
    },
}
TARGET_RATIO = 0.5


def timed(command, env=None):
    """Runs a command; returns (seconds, stdout). Fails loudly."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def run_reference(task, data_dir):
    seconds, out = timed([sys.executable, TASKS[task]["reference"], data_dir])
    match = re.search(r"test accuracy ([0-9.]+)", out)
    if not match:
        sys.exit(f"benchmark: no accuracy in the reference output:\n{out[-2000:]}")
    return {"accuracy": float(match.group(1)), "wall_seconds": round(seconds, 1)}


def run_zoo(task, data_dir, out_dir, shown_data_dir):
    model = TASKS[task]["model"]
    zoo = str(Path(sys.executable).with_name("zoo"))
    command = [zoo, "train", model, "--dataset", task, "--data-dir", data_dir, "--out", out_dir]
    seconds, _ = timed(command)
    summary = json.loads((Path(out_dir) / "summary.json").read_text())
    return {
        "accuracy": summary["test_accuracy"],
        "wall_seconds": round(seconds, 1),
        "train_seconds": summary["train_seconds"],
        "images_per_second": summary["images_per_second"],
        "epochs": summary["epochs"],
        "records": summary["records"],
        "command": f"zoo train {model} --dataset {task} --data-dir {shown_data_dir}",
    }


def _store(stored, results, machine):
    """Puts each task's accuracy and training time into the results file's dict."""
    models = stored.setdefault("models", {})
    for task, r in results.items():
        entry = models.setdefault(TASKS[task]["model"], {})
        entry.setdefault("accuracy", {})[task] = {
            "top1": round(r["zoo"]["accuracy"], 4),
            "test_images": r["zoo"]["records"]["test"],
            "train_images": r["zoo"]["records"]["train"],
            "data": "subset of the official files (../shared/data), not the full dataset",
            "command": r["zoo"]["command"],
            "measured": r["date"],
            "machine": machine,
        }
        entry["training"] = {
            task: {
                **{k: r["zoo"][k] for k in ("wall_seconds", "train_seconds", "images_per_second", "epochs")},
                "reference": {"name": TASKS[task]["reference_name"], **r["reference"]},
                "time_ratio": r["ratio"],
                "measured": r["date"],
                "machine": machine,
            }
        }


def record(results, machine):
    update_results(lambda stored: _store(stored, results, machine))
    lines = [
        "# Training benchmark",
        "",
        f"Measured by `python recipes/benchmark_training.py --data-dir ../shared/data --record` on {machine}.",
        "Wall time is the whole command, Python start-up included. The data are subsets of the",
        "official files (MNIST: 14,262 train / 5,000 test; CIFAR-10: 4,660 train / 423 test), not",
        "the full datasets.",
        "",
        "| task | reference | reference top-1 | reference wall | zoo model | zoo top-1 | zoo wall | time ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task, r in results.items():
        ref, zoo = r["reference"], r["zoo"]
        lines.append(
            f"| {task} | {TASKS[task]['reference_name']} | {ref['accuracy']:.2%} | {ref['wall_seconds']:.0f} s "
            f"| {TASKS[task]['model']} | {zoo['accuracy']:.2%} | {zoo['wall_seconds']:.0f} s | {r['ratio']:.2f} |"
        )
    write_page("training.md", lines)


def write_page(filename, lines):
    """Writes docs/benchmarks/FILENAME and says where the figures went."""
    out = ROOT / "docs" / "benchmarks" / filename
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"recorded in {RESULTS_PATH.relative_to(ROOT)} and {out.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--task", choices=sorted(TASKS), action="append", help="default: all")
    parser.add_argument("--record", action="store_true", help="write zoo/results.json and docs/benchmarks/")
    parser.add_argument("--out", default="runs/benchmark")
    args = parser.parse_args()
    data_dir = os.path.abspath(args.data_dir)
    host = bench.machine()
    results = {}
    for task in args.task or list(TASKS):
        print(f"== {task}: reference ...", flush=True)
        reference = run_reference(task, data_dir)
        print(f"   {reference}\n== {task}: zoo train {TASKS[task]['model']} ...", flush=True)
        zoo = run_zoo(task, data_dir, str(ROOT / args.out / task), args.data_dir)
        ratio = zoo["wall_seconds"] / reference["wall_seconds"]
        results[task] = {"reference": reference, "zoo": zoo, "ratio": round(ratio, 3),
                         "date": datetime.date.today().isoformat()}
        target = TASKS[task]["target_accuracy"]
        met = zoo["accuracy"] >= target and ratio <= TARGET_RATIO
        print(
            f"   reference {reference['accuracy']:.2%} in {reference['wall_seconds']:.1f} s | "
            f"zoo {zoo['accuracy']:.2%} in {zoo['wall_seconds']:.1f} s | ratio {ratio:.2f} | "
            f"target (>= {target:.1%}, ratio <= {TARGET_RATIO}): {'met' if met else 'NOT met'}",
            flush=True,
        )
    raw = ROOT / args.out / "results.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": host, "results": results}, indent=2) + "\n")
    print(f"raw results in {raw}")
    if args.record:
        record(results, host)


if __name__ == "__main__":
    main()
