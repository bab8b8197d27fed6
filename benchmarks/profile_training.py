"""Where a recipe's training time goes: its TensorFlow kernels, by op and by layer.

Trains a model by its `zoo train` recipe in this process under TensorFlow's
profiler and sums the time of the kernels it ran, by op type (convolutions,
their two gradients, pooling, element-wise ops, the data pipeline's warps)
and by the model layer each belongs to, forward and gradient apart. On a
CPU the kernels of one compiled step run on several threads at once, so
their sum can exceed the wall time: the shares compare kernels, they do not
split the wall time. The profiler slows the run down a little; time a
recipe with `benchmark_training.py`, not here.

    python benchmarks/profile_training.py mnist_convnet --epochs 3
    python benchmarks/profile_training.py cifar10_net --epochs 3 --precision float32
    python benchmarks/profile_training.py mnist_convnet --dataset mnist:sample --epochs 1 --top 10
"""

import argparse
import collections
import glob
import re
import sys
import tempfile

# A TensorFlow op's trace event: "scope/.../name:OpType" (one colon; the
# profiler's own events, "ExecutorState::Process" and the like, have two).
OP_EVENT = re.compile(r"^(?P<name>[^:]+):(?P<op>[A-Za-z0-9_]+)$")
# The layer in an op name: ".../<model>_<n>/<layer>_<n>/..." as Keras scopes
# it; a template, the model's name escaped into `{model}`.
LAYER = r"(?:^|/){model}(?:_\d+)?/(?P<layer>[^/]+?)(?:_\d+)?/"


def op_times(space, model_name: str):
    """Kernel seconds in an `XSpace` (the profiler's `*.xplane.pb`) on the
    host's planes: `(by_op, by_layer)`, two `Counter`s. `by_layer` keys are
    `(layer, "forward" or "gradient")`, or `("(outside the model)", "")` for
    kernels of no layer (the data pipeline, the optimizer's update).

    >>> from tensorflow.tsl.profiler.protobuf import xplane_pb2
    >>> space = xplane_pb2.XSpace()
    >>> plane = space.planes.add(name="/host:CPU")
    >>> names = ["m_1/conv1_1/Relu:_MklNativeFusedConv2D",
    ...          "gradient_tape/m_1/conv1_1/convolution/Conv2DBackpropFilter:Conv2DBackpropFilter",
    ...          "ExecutorState::Process", "ImageProjectiveTransformV3:ImageProjectiveTransformV3"]
    >>> for i, name in enumerate(names, 1):
    ...     plane.event_metadata[i].name = name
    >>> line = plane.lines.add()
    >>> for i in (1, 2, 2, 3, 4):
    ...     _ = line.events.add(metadata_id=i, duration_ps=10**12)
    >>> by_op, by_layer = op_times(space, "m")
    >>> sorted(by_op.items())
    [('Conv2DBackpropFilter', 2.0), ('ImageProjectiveTransformV3', 1.0), ('_MklNativeFusedConv2D', 1.0)]
    >>> sorted(by_layer.items())
    [(('(outside the model)', ''), 1.0), (('conv1', 'forward'), 1.0), (('conv1', 'gradient'), 2.0)]
    """
    layer_pattern = re.compile(LAYER.format(model=re.escape(model_name)))
    by_op, by_layer = collections.Counter(), collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        for line in plane.lines:
            for event in line.events:
                match = OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
                if not match:
                    continue
                seconds = event.duration_ps / 1e12
                by_op[match["op"]] += seconds
                layer = layer_pattern.search(match["name"])
                if layer is None:
                    by_layer["(outside the model)", ""] += seconds
                else:
                    part = "gradient" if "gradient_tape/" in match["name"] else "forward"
                    by_layer[layer["layer"], part] += seconds
    return by_op, by_layer


def table(counter, total: float, top: int, label) -> list[str]:
    """The `top` largest entries of a Counter of seconds, with their shares of `total`."""
    rows = [f"{label(key):48s} {seconds:8.2f} s {100 * seconds / total:5.1f} %"
            for key, seconds in counter.most_common(top)]
    rest = sum(counter.values()) - sum(seconds for _, seconds in counter.most_common(top))
    if rest > 0:
        rows.append(f"{'(the rest)':48s} {rest:8.2f} s {100 * rest / total:5.1f} %")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--dataset", default=None, help="default: the recipe's")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--top", type=int, default=15, help="rows of each table (default: 15)")
    args = parser.parse_args()
    if args.epochs < 1 or args.top < 1:
        parser.error(f"--epochs and --top must be at least 1. Received: --epochs {args.epochs} --top {args.top}")

    import keras
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from zoo import bench, training
    from zoo.registry import get_model_factory

    if keras.backend.backend() != "tensorflow":
        sys.exit(f"profile_training: TensorFlow's profiler needs Keras' TensorFlow backend. "
                 f"Received: KERAS_BACKEND={keras.backend.backend()!r}")
    try:  # an unknown model fails here, before the profiler starts
        get_model_factory(args.model)
    except ValueError as error:
        sys.exit(f"profile_training: {error}")
    data_dir = None if args.dataset and args.dataset.endswith(":sample") else args.data_dir
    logdir = tempfile.mkdtemp(prefix="zoo-profile-")
    with tempfile.TemporaryDirectory() as out:
        tf.profiler.experimental.start(logdir)
        try:
            summary = training.train(args.model, dataset=args.dataset, data_dir=data_dir, out=out, verbose=0,
                                     epochs=args.epochs, precision=args.precision)
        except (ValueError, OSError) as error:  # an unknown dataset, images too small for the model: one line
            sys.exit(f"profile_training: {error}")
        finally:
            tf.profiler.experimental.stop()
    traces = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    if len(traces) != 1:
        sys.exit(f"profile_training: TensorFlow's profiler wrote {len(traces)} traces into {logdir}, not one")
    space = xplane_pb2.XSpace()
    with open(traces[0], "rb") as f:
        space.ParseFromString(f.read())
    by_op, by_layer = op_times(space, summary["model"])
    total = sum(by_op.values())
    if not total:  # a run with no epoch left to train, say
        sys.exit(f"profile_training: the profile holds no kernel time ({summary['epochs_run']} epochs run); "
                 f"profile in {logdir}")
    print(f"{args.model} on {bench.machine()}: {summary['epochs_run']} epochs of {summary['records']['train']:,} "
          f"images in {summary['train_seconds']:.2f} s of training ({summary['precision']}), "
          f"{total:.2f} s of kernels in all (summed over threads); profile in {logdir}")
    print("\nby op")
    print("\n".join(table(by_op, total, args.top, str)))
    print("\nby layer")
    print("\n".join(table(by_layer, total, args.top, lambda key: " ".join(filter(None, key)))))


if __name__ == "__main__":
    main()
