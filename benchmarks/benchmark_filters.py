"""Leung-Malik filtering speed: the DFT path against a dense 49x49 convolution.

`LeungMalikFilters` filters with matrix products around a DFT along the rows;
the dense path (one Conv2D holding the same 49x48 kernel) stays for TFLite
export. This times both, as
compiled `tf.function`s, on one batch of real 64x64 images (CIFAR-10 test
images from the shipped sample, grey, upsampled and scaled to [0, 1] as the
zoo's models feed the bank), and checks the DFT responses against the dense
ones.

Target (the benchmarks issue): the DFT path at least 4x faster, with a max
abs error of at most 1e-4.

    python benchmarks/benchmark_filters.py [--batch 32] [--repeats 20] [--record]
"""

import argparse
import datetime
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo import bench
from zoo.data import read_sample
from zoo.layers import LeungMalikFilters
from zoo.registry import RESULTS_PATH, machine_key, update_results

ROOT = Path(__file__).resolve().parents[1]
SIZE = 64
TARGET_SPEEDUP = 4.0
TARGET_ERROR = 1e-4


def real_images(batch: int) -> tf.Tensor:
    (_, _), (x_test, _), _ = read_sample("cifar10:sample")
    grey = x_test[:batch].astype("float32").mean(axis=-1, keepdims=True) / 255.0
    return tf.image.resize(grey, (SIZE, SIZE))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--record", action="store_true", help="write the figures to zoo/results.json")
    args = parser.parse_args()
    if args.batch < 1 or args.repeats < 1:
        parser.error(f"--batch and --repeats must be at least 1. Received: --batch {args.batch} --repeats {args.repeats}")

    x = real_images(args.batch)
    if x.shape[0] != args.batch:  # the sample holds fewer: the figures would name more images than were filtered
        parser.error(f"--batch must be at most {x.shape[0]}, the test images of cifar10:sample. "
                     f"Received: --batch {args.batch}")
    dft = tf.function(LeungMalikFilters(implementation="dft"))
    dense = tf.function(LeungMalikFilters(implementation="dense"))
    error = float(np.abs(dft(x).numpy() - dense(x).numpy()).max())
    # Interleaved, so drifts in the machine's speed hit both alike.
    dense_ms, dft_ms = [], []
    for _ in range(3):
        dense_ms.append(bench.latency_ms(lambda images: dense(images).numpy(), x, warmup=2, runs=args.repeats))
        dft_ms.append(bench.latency_ms(lambda images: dft(images).numpy(), x, warmup=2, runs=args.repeats))
    dense_ms, dft_ms = statistics.median(dense_ms), statistics.median(dft_ms)
    speedup = dense_ms / dft_ms
    met = speedup >= TARGET_SPEEDUP and error <= TARGET_ERROR
    print(
        f"LeungMalikFilters on {args.batch} real {SIZE}x{SIZE} images: dense {dense_ms:.1f} ms, "
        f"DFT {dft_ms:.1f} ms, {speedup:.2f}x faster, max abs error {error:.1e} | target "
        f"(>= {TARGET_SPEEDUP:g}x, <= {TARGET_ERROR:g}): {'met' if met else 'NOT met'} | on {bench.machine()}"
    )
    if args.record:
        figures = {
            "images": f"{args.batch} x {SIZE}x{SIZE}x1, [0, 1]",
            "dense_ms": round(dense_ms, 2),
            "dft_ms": round(dft_ms, 2),
            "speedup": round(speedup, 2),
            "max_abs_error": error,
            "machine": bench.machine(),
            "machine_key": machine_key(),
            "measured": datetime.date.today().isoformat(),
            "command": shlex.join(["python", "benchmarks/benchmark_filters.py", *sys.argv[1:]]),
        }
        # Beside the figures of other kinds of machine, never over them.
        update_results(lambda stored: stored.setdefault("layers", {}).setdefault("LeungMalikFilters", {})
                       .update({figures["machine_key"]: figures}))
        print(f"recorded in {RESULTS_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
