"""Export benchmark: accuracy, latency and size of SavedModel, TFLite and ONNX exports.

For each model, trains it with `zoo train` (or takes a given `.keras` file),
exports it with `zoo.export.export_model` as a SavedModel, as the four
TFLite kinds (float32, float16, dynamic range, full int8 calibrated on 500
training images) and as ONNX, and measures on the real test images of
--data-dir:

- top-1 accuracy of the Keras model and of every export;
- batch-1 latency, the median of 200 calls after 20 warm-up calls, of
  calling the Keras model (`model(x)`, eager, and `model.predict_on_batch`),
  the SavedModel's `serving_default` signature, each TFLite file in the
  plain `ai_edge_litert` interpreter and the ONNX file in ONNX Runtime (one
  thread per logical CPU each);
- batch-64 latency, the median of 20 calls, of `predict_on_batch`, the TFLite
  files and ONNX Runtime;
- file sizes.

Models: mnist_convnet on MNIST and cifar10_net on CIFAR-10 with their
recipes, and vgg16 at 32x32 input with 10 classes, trained on CIFAR-10 for
only 2 epochs (`--vgg-epochs`; 0 exports it untrained, random weights): its
accuracy says little, the export figures are the point.

Targets (the export issue), per model: int8 top-1 within 0.3 points of
Keras; batch-1 int8 latency at least 10x lower than calling the Keras model
(`model(x)`); int8 file at most a third of the float TFLite file. With
--record, writes the figures to zoo/results.json (`models.NAME.export.KEY`,
KEY this kind of machine, other keys kept) and docs/benchmarks/export.md,
which lists every kind of machine recorded.

    python benchmarks/benchmark_export.py --data-dir ../shared/data --record
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from benchmark_training import write_page

from zoo import bench
from zoo.data import _raw_files
from zoo.export import drop_interval, size_bytes, top1_changes
from zoo.registry import RESULTS_PATH, by_machine, machine_key, update_results

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "mnist_convnet": {"dataset": "mnist", "epochs": None},  # None: the recipe's
    "cifar10_net": {"dataset": "cifar10", "epochs": None},
    "vgg16": {"dataset": "cifar10", "epochs": 2},  # the recipe's 32x32 input; not its 20 epochs
}
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
WARMUP, RUNS = 20, 200
BATCH, BATCH_RUNS = 64, 20
THREADS = os.cpu_count() or 1
TARGET_INT8_DROP = 0.003  # top-1, as a fraction
TARGET_SPEEDUP = 10.0
TARGET_SIZE_RATIO = 1 / 3
COMMAND = "python benchmarks/benchmark_export.py --data-dir ../shared/data --record"


def latency_ms(call, x, runs=RUNS):
    """Median wall time of `call(x)` in milliseconds, after warm-up calls."""
    return round(bench.latency_ms(call, x, warmup=WARMUP, runs=runs), 4)


def predict_classes(run, x, batch=250):
    """The class `run` gives each image of `x`, in batches."""
    return np.concatenate([np.asarray(run(x[i : i + batch])).argmax(-1) for i in range(0, len(x), batch)])


def accuracy(classes, y) -> float:
    """Top-1: the share of `classes` equal to the labels `y`, to 4 places."""
    return round(float(np.mean(classes == y)), 4)


def top1(run, x, y, batch=250):
    return accuracy(predict_classes(run, x, batch), y)


def given_models(items, tasks) -> dict:
    """`{name: path}` of the `--model NAME=PATH` items, each NAME one of the
    tasks run and each PATH a file; ValueError naming the item otherwise."""
    given = {}
    for item in items or []:
        name, _, path = item.partition("=")
        if name not in tasks or not path:
            raise ValueError(f"--model takes NAME=PATH with NAME one of the tasks run ({', '.join(tasks)}). "
                             f"Received: --model {item}")
        if not os.path.isfile(path):
            raise ValueError(f"--model {name}: no such file. Received: --model {item}")
        given[name] = path
    return given


def obtain_model(name, args, out):
    """The `.keras` file to export and how it came to be."""
    given = given_models(args.model, args.task or list(TASKS))
    if name in given:
        return given[name], f"given: {given[name]}"
    epochs = args.vgg_epochs if name == "vgg16" else TASKS[name]["epochs"]
    if epochs == 0:
        import zoo

        path = out / "untrained.keras"
        out.mkdir(parents=True, exist_ok=True)
        zoo.vgg16(input_shape=(32, 32, 3), classes=10).save(path)
        return str(path), "untrained (random weights)"
    dataset = TASKS[name]["dataset"]
    command = [str(Path(sys.executable).with_name("zoo")), "train", name, "--dataset", dataset,
               "--data-dir", os.path.abspath(args.data_dir), "--out", str(out)]
    command += ["--epochs", str(epochs)] if epochs else []
    print(f"   training: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark: training {name} failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    shown = f"zoo train {name} --dataset {dataset} --data-dir {args.data_dir}" + (f" --epochs {epochs}" if epochs else "")
    note = (f"trained by `{shown}` ({summary['epochs']} epochs, {time.perf_counter() - start:.0f} s, "
            f"test top-1 {summary['test_accuracy']:.2%})")
    return str(out / "model.keras"), note


def measure(name, keras_path, args, out):
    from zoo import export
    from zoo.data import read_raw
    from zoo.predict import OnnxRunner, SavedModelRunner, TFLiteRunner, fit_images, load_keras_model

    dataset = TASKS[name]["dataset"]
    raw = read_raw(dataset, args.data_dir)
    if raw is None:
        sys.exit(f"benchmark: no official {dataset} files under {args.data_dir}")
    _, (x_test, y_test), _ = raw
    model = load_keras_model(keras_path)
    x = fit_images(x_test, model.input_shape[1:]).astype("float32")
    one, batch = x[:1], x[:BATCH]
    keras_classes = predict_classes(lambda b: model.predict_on_batch(b), x)
    rows = {"keras": {
        "top1": accuracy(keras_classes, y_test),
        "bytes": size_bytes(keras_path),
        "latency_ms": latency_ms(lambda b: model(b, training=False), one, args.runs),
        "batch64_ms": latency_ms(model.predict_on_batch, batch, BATCH_RUNS),
        "predict_on_batch_ms": latency_ms(model.predict_on_batch, one, args.runs),
    }}
    common = dict(dataset=dataset, data_dir=args.data_dir)
    path = out / "saved_model"
    report = export.export_model(keras_path, str(path), format="saved_model", **common)
    runner = SavedModelRunner(path)
    rows["saved_model"] = {
        "top1": top1(runner, x, y_test), "bytes": size_bytes(path), "latency_ms": latency_ms(runner, one, args.runs),
        "max_abs_diff": report["parity"]["max_abs_diff"],
    }
    for quantize in QUANTIZATIONS:
        path = out / f"{quantize}.tflite"
        report = export.export_model(keras_path, str(path), format="tflite", quantize=quantize, **common)
        runner = TFLiteRunner(str(path), num_threads=THREADS)
        classes = predict_classes(runner, x)
        rows[f"tflite_{quantize}"] = {
            "top1": accuracy(classes, y_test), **top1_changes(keras_classes, classes, y_test),
            "bytes": size_bytes(path), "latency_ms": latency_ms(runner, one, args.runs),
            "batch64_ms": latency_ms(runner, batch, BATCH_RUNS),
            "max_abs_diff": report["parity"]["max_abs_diff"],
            "top1_agreement": report["parity"]["top1_agreement"],
        }
    path = out / "model.onnx"
    report = export.export_model(keras_path, str(path), format="onnx", **common)
    runner = OnnxRunner(str(path), num_threads=THREADS)
    rows["onnx"] = {
        "top1": top1(runner, x, y_test), "bytes": size_bytes(path), "latency_ms": latency_ms(runner, one, args.runs),
        "batch64_ms": latency_ms(runner, batch, BATCH_RUNS),
        "max_abs_diff": report["parity"]["max_abs_diff"],
        "top1_agreement": report["parity"]["top1_agreement"],
    }
    return {"dataset": dataset, "test_images": len(y_test), "runtimes": rows}


def targets(rows, images=None):
    """Each export target's value, and whether it is met; the int8 drop with
    the images behind it and its 95 % interval, where the rows count them
    and `images` (the test images) is given."""
    keras, int8, float32 = rows["keras"], rows["tflite_int8"], rows["tflite_none"]
    # Each top-1 is rounded to 4 places: so is their difference, or a drop at
    # the target (15 of 5,000 images: 0.9930 - 0.9900) reads 0.0030000000000000027.
    drop = round(keras["top1"] - int8["top1"], 4)
    speedup = keras["latency_ms"] / int8["latency_ms"]
    ratio = int8["bytes"] / float32["bytes"]
    int8_drop = {"value": drop, "target": f"<= {TARGET_INT8_DROP}", "met": drop <= TARGET_INT8_DROP}
    if images and "lost" in int8:
        low, high = drop_interval(int8["lost"], int8["gained"], images)
        int8_drop.update(lost=int8["lost"], gained=int8["gained"], images=images,
                         interval=[round(low, 4), round(high, 4)])
    return {
        "int8_top1_drop": int8_drop,
        "int8_speedup_vs_keras_call": {"value": round(speedup, 1), "target": f">= {TARGET_SPEEDUP:g}",
                                       "met": speedup >= TARGET_SPEEDUP},
        "int8_size_vs_float_tflite": {"value": round(ratio, 3), "target": "<= 1/3", "met": ratio <= TARGET_SIZE_RATIO},
    }


LABELS = {
    "keras": "Keras `model(x)`", "saved_model": "SavedModel", "tflite_none": "TFLite float32",
    "tflite_float16": "TFLite float16", "tflite_dynamic": "TFLite dynamic range", "tflite_int8": "TFLite int8",
    "onnx": "ONNX Runtime float32",
}


def table(result):
    """The Markdown table of one model's figures."""
    rows = result["runtimes"]
    keras = rows["keras"]
    batched = any("batch64_ms" in row for row in rows.values())
    lines = ["| runtime | top-1 | batch-1 latency | vs `model(x)` |" + (" batch-64 latency |" if batched else "")
             + " size | max abs diff | top-1 agreement |",
             "| --- | --- | --- | --- |" + (" --- |" if batched else "") + " --- | --- | --- |"]
    for key, row in rows.items():
        diff = f"{row['max_abs_diff']:.2g}" if "max_abs_diff" in row else "-"
        agreement = f"{row['top1_agreement']:.2%}" if "top1_agreement" in row else "-"
        b64 = (f" {row['batch64_ms']:.2f} ms |" if "batch64_ms" in row else " - |") if batched else ""
        lines.append(
            f"| {LABELS[key]} | {row['top1']:.2%} | {row['latency_ms']:.3f} ms | "
            f"{keras['latency_ms'] / row['latency_ms']:.1f}x |{b64} {row['bytes'] / 1e6:.2f} MB | {diff} | {agreement} |"
        )
    lines.append(f"| Keras `predict_on_batch` | | {keras['predict_on_batch_ms']:.3f} ms | "
                 f"{keras['latency_ms'] / keras['predict_on_batch_ms']:.1f}x |" + (" |" if batched else "") + " | | |")
    return lines


def target_lines(result):
    return [f"- {key}: {t['value']} (target {t['target']}): {'met' if t['met'] else 'NOT met'}{_paired(t)}"
            for key, t in result["targets"].items()]


def _paired(target):
    """For the int8 drop: the images behind it and its 95 % interval, and
    whether these test images can tell the drop from 0 and the target."""
    if "interval" not in target:
        return ""
    low, high = target["interval"]
    limit = TARGET_INT8_DROP
    verdict = ("so these images cannot tell a drop of 0 from one at the target"
               if low <= 0 <= high and low <= limit <= high else
               "above the target at 95 %" if low > limit else
               "within the target at 95 %" if high <= limit else "")
    return (f"; int8 wrong where Keras is right on {target['lost']} of {target['images']} test images, "
            f"right where Keras is wrong on {target['gained']}; 95 % interval {low:+.4f} to {high:+.4f}"
            + (f", {verdict}" if verdict else ""))


def run_command(argv) -> str:
    """The command a record names: this script with the arguments it ran with."""
    return shlex.join(["python", "benchmarks/benchmark_export.py", *argv])


def record(results, host, key, date, runs, command=COMMAND):
    def update(stored):
        for name, result in results.items():
            stored.setdefault("models", {}).setdefault(name, {}).setdefault("export", {})[key] = {
                **result,
                "data": "subset of the official files (../shared/data), not the full dataset",
                "latency": f"batch 1, median of {runs} calls after {WARMUP} warm-up calls; batch {BATCH}, median "
                           f"of {BATCH_RUNS}; TFLite: ai_edge_litert interpreter, ONNX Runtime: CPU provider, "
                           f"{THREADS} threads each",
                "command": command, "measured": date, "machine": host, "machine_key": key,
            }

    update_results(update)
    write_page("export.md", page_lines(json.loads(RESULTS_PATH.read_text())["models"]))


def page_lines(models: dict) -> list[str]:
    """docs/benchmarks/export.md: every model on every kind of machine recorded."""
    lines = [
        "# Export benchmark", "",
        f"Measured by `{COMMAND}`, on the machine named in each section.",
        "Batch-1 latency is the median of many calls after warm-up calls (each section says how many), a",
        "real test image in and the output out, conversions included; TFLite files run in the plain",
        "`ai_edge_litert` interpreter. Accuracy is top-1 on the test images of the real subsets",
        "in `../shared/data` (MNIST 5,000, CIFAR-10 423), not the full test sets; the largest absolute",
        "difference and the top-1 agreement with Keras are the export's own parity report, on the first",
        "500 of those images. Where a section counts them, the int8 drop comes with the test images behind",
        "it (int8 wrong where Keras is right, and the other way) and its 95 % interval as a paired",
        "difference: on CIFAR-10's 423 images one image is 0.24 points.",
    ]
    for name in TASKS:
        for _, result in by_machine(models.get(name, {}).get("export")):
            lines += ["", f"## {name} on {result['dataset']}, on {result['machine']} ({result['measured']})", "",
                      f"Model: {result['model']}. Latency: {result['latency']}.", ""]
            lines += table(result) + [""] + target_lines(result)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--task", choices=sorted(TASKS), action="append", help="default: all")
    parser.add_argument("--model", action="append", metavar="NAME=PATH", help="export this .keras file, no training")
    parser.add_argument("--vgg-epochs", type=int, default=TASKS["vgg16"]["epochs"], help="0: untrained")
    parser.add_argument("--runs", type=int, default=RUNS,
                        help=f"timed calls per batch-1 latency (default: {RUNS}; batch {BATCH}: {BATCH_RUNS})")
    parser.add_argument("--record", action="store_true", help="write zoo/results.json and docs/benchmarks/")
    parser.add_argument("--out", default="runs/benchmark_export")
    args = parser.parse_args()
    tasks = args.task or list(TASKS)
    if args.runs < 1 or args.vgg_epochs < 0:
        parser.error(f"--runs must be at least 1 and --vgg-epochs at least 0. "
                     f"Received: --runs {args.runs} --vgg-epochs {args.vgg_epochs}")
    try:
        given_models(args.model, tasks)
    except ValueError as error:
        parser.error(str(error))
    for dataset in dict.fromkeys(TASKS[name]["dataset"] for name in tasks):
        missing = _raw_files(dataset, args.data_dir)[1]
        if missing:
            parser.error(f"--data-dir: no official {dataset} files ({', '.join(missing)}) under "
                         f"{args.data_dir!r}. Received: --data-dir {args.data_dir}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    host, key, date = bench.machine(), machine_key(), datetime.date.today().isoformat()
    print(f"on {host} (figures recorded under {key!r})", flush=True)
    results = {}
    for name in tasks:
        out = ROOT / args.out / name
        print(f"== {name}", flush=True)
        keras_path, note = obtain_model(name, args, out)
        print(f"   model: {note}\n   exporting and measuring ...", flush=True)
        result = measure(name, keras_path, args, out / "exports")
        result["model"] = note
        result["targets"] = targets(result["runtimes"], result["test_images"])
        results[name] = result
        print("\n".join("   " + line for line in table(result) + target_lines(result)), flush=True)
    raw = ROOT / args.out / "results.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": host, "machine_key": key, "results": results}, indent=2) + "\n")
    print(f"raw results in {raw}")
    if args.record:
        record(results, host, key, date, args.runs, command=run_command(sys.argv[1:]))


if __name__ == "__main__":
    main()
