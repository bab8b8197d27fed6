"""The `zoo` command line.

    zoo list [PATTERN] [--pretrained] the registered models, with size and cost
    zoo info NAME [--json|--markdown] one model's facts and measured results, or its card
    zoo train MODEL [--dataset ...]  train a model with its recipe
    zoo finetune vgg16 --data-dir D  fine-tune a pretrained model on an image folder
    zoo tune MODEL [--tuner ...]     search a model's hyperparameters with keras-tuner
    zoo export M.keras --format F    SavedModel, TFLite (quantized) or ONNX, checked on real images
    zoo predict MODEL IMAGE...       top-k classes of PNG, JPEG, GIF, BMP or WebP images
    zoo filters edge|lm --out PNG    draw a fixed filter bank
    zoo bench [MODEL...]             training and inference speed beside plain-Keras baselines

Bad input gets a one-line error on stderr and a non-zero exit status. The
console script enters through `zoo_cli`, which keeps TensorFlow's start-up
logging off the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from zoo._common import one_line


def _top1(measured: dict) -> str:
    """Measured top-1 accuracies, each naming its data (and whether a subset).

    Of the figures recorded on several kinds of machine, a task shows the
    latest, so the table is the same on every machine.
    """
    latest = {}
    for tasks in measured.get("accuracy", {}).values():
        for task, v in tasks.items():
            if task not in latest or v.get("measured", "") > latest[task].get("measured", ""):
                latest[task] = v
    return ", ".join(
        f"{v['top1']:.2%} ({k}{' subset' if 'subset' in v.get('data', '') else ''})"
        for k, v in sorted(latest.items())
    ) or "-"


def cmd_list(args) -> int:
    import zoo
    from zoo._common import format_count

    names = zoo.list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        what = "model with weights" if args.pretrained else "model"
        raise ValueError(
            f"No {what} matches the pattern. Received: pattern={args.pattern!r}"
        )
    header = ("model", "input", "params", "FLOPs", "weights", "top-1 (measured)")
    rows = []
    for name in names:
        info = zoo.model_info(name)
        rows.append((
            name,
            "x".join(map(str, info["input_shape"])),
            format_count(info["params"]),
            format_count(info["flops"]),
            ", ".join(info["pretrained"]) or "-",
            _top1(info["measured"]),
        ))
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # A file or pipe has no width; rich's default of 80 columns would wrap the rows.
        console = Console(width=10_000)
    console.print(table)
    return 0


def cmd_info(args) -> int:
    import zoo

    info = zoo.model_info(args.name)
    if args.markdown:
        from zoo.modelcard import model_card

        print(model_card(args.name), end="")
        return 0
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        print(f"{key:>16}: {_info_value(key, value)}")
    return 0


def _info_value(key: str, value) -> str:
    """One line of `zoo info`: the records (weight sets, measured figures) in
    brief, whole in `--json`."""
    if key == "weights":
        sets = []
        for tag, record in (value or {}).items():
            test = (record.get("metrics") or {}).get("test") or {}
            top1 = f": {test['top1']:.2%} top-1 on {test['records']:,} images" if "top1" in test else ""
            sets.append(f"{tag}{top1}")
        return "; ".join(sets) + " (--json for the records)" if sets else "none"
    if key == "measured":
        if not value:
            return "none recorded yet"
        kinds = ", ".join(f"{kind} on {len(machines)} machine{'s' * (len(machines) != 1)}"
                          for kind, machines in value.items())
        return f"{kinds} (--json or --markdown for the figures)"
    if key == "feature_info":
        return ", ".join(f"{f['layer']} ({f['channels']} channels, /{f['reduction']})" for f in value)
    return str(value)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _image_size(text: str) -> tuple[int, int]:
    """Parses `--image-size 96` or `--image-size 96x128` (height x width)."""
    parts = text.lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW, received {text!r}")
    return size


def _result_line(summary: dict, out) -> str:
    speed = summary["images_per_second"]
    return (
        f"{summary['model']}: test accuracy {summary['test_accuracy']:.2%} "
        f"(loss {summary['test_loss']:.4f}) on {summary['records']['test']:,} images after "
        f"{summary['epochs']} epoch{'' if summary['epochs'] == 1 else 's'} in {summary['train_seconds']:.1f} s"
        + (f" ({speed:,.0f} images/s)" if speed else "")
        + f"; model and report in {out}/"
    )


def _add_data_arguments(p) -> None:
    p.add_argument("--dataset", help="mnist, cifar10, any tfds name, folder, mnist:sample, cifar10:sample")
    p.add_argument("--data-dir", help="official raw files, tfds data_dir, or the image folder")
    p.add_argument("--image-size", type=_image_size, help="N or HxW: resize the images to it (default: the "
                   "model's size for a folder, the dataset's own for the others)")
    _add_precision_argument(p)


def _add_precision_argument(p) -> None:
    from zoo.precision import PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="compute precision (default: auto: where this CPU or GPU computes bfloat16 natively, "
                        "or float16 with loss scaling on older GPUs, the faster of it and float32 for this model, "
                        "timed in a few steps once per machine and cached; else float32. "
                        "ZOO_PRECISION_PROBE=0 skips the timing, ZOO_PRECISION_PROBE=refresh times again)")


def cmd_train(args) -> int:
    from zoo import training

    summary = training.train(
        args.model, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, strategy=args.strategy,
        out=args.out, image_size=args.image_size, precision=args.precision, command=args.command,
    )
    print(_result_line(summary, args.out or f"runs/{args.model}"))
    return 0


def cmd_finetune(args) -> int:
    from zoo import training

    summary = training.finetune(
        args.model, dataset=args.dataset or "folder", data_dir=args.data_dir, weights=args.weights,
        epochs=args.epochs, fine_epochs=args.fine_epochs, batch_size=args.batch_size, lr=args.lr,
        fine_lr=args.fine_lr, unfreeze=args.unfreeze, seed=args.seed, out=args.out,
        image_size=args.image_size, precision=args.precision, command=args.command,
    )
    print(_result_line(summary, args.out or f"runs/{args.model}-finetune"))
    return 0


def cmd_tune(args) -> int:
    import logging

    from zoo import tuning

    # Each trial builds a new model: TensorFlow's warnings about retracing say nothing here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    # A failed trial's traceback goes to its trial.json, not the terminal.
    from keras_tuner.src import config as keras_tuner_config

    keras_tuner_config.DEBUG = False

    summary = tuning.tune(
        args.model, dataset=args.dataset, data_dir=args.data_dir, image_size=args.image_size, tuner=args.tuner,
        max_trials=args.max_trials, epochs=args.epochs, seed=args.seed, weights=args.weights,
        chief_timeout=args.chief_timeout, out=args.out, precision=args.precision, command=args.command,
    )
    if summary.get("role") == "worker":
        print(f"{args.model}: worker {summary['tuner_id']} ran {summary['trials_run']} trial(s); "
              f"the chief writes the results in {summary['out']}/")
        return 0
    print(
        f"{args.model}: best {summary['objective']} {summary['best_score']:.2%} in trial_{summary['best_trial']} "
        f"of {summary['trials']} trials ({summary['trials_run']} run by this process) "
        f"after {summary['seconds']:.1f} s; best model and report in {summary['out']}/"
    )
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}")
    return value


def _bytes(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _export_lines(report: dict, out: str) -> list[str]:
    """The export report in a few lines."""
    kind = report["format"] + (f", {report['quantization']}" if report["quantization"] else "")
    sizes = report["sizes"]
    size = _bytes(sizes["exported_bytes"])
    if sizes["keras_bytes"]:
        size += f" (the .keras file: {_bytes(sizes['keras_bytes'])})"
    parity = report["parity"]
    check = (
        f"{parity['images']} {parity['split']} images of {parity['dataset']}: "
        f"max |difference| {parity['max_abs_diff']:.3g}"
    )
    if "top1_agreement" in parity:
        check += f", top-1 agreement {parity['top1_agreement']:.2%}"
    if report["within_tolerance"] is not None:
        check += f" ({'within' if report['within_tolerance'] else 'OUTSIDE'} {report['tolerance']:g})"
    lines = [f"exported {out} ({kind}): {size}", f"  against Keras on {check}"]
    if "keras_top1" in parity:
        lines.append(f"  top-1 accuracy: Keras {parity['keras_top1']:.2%}, export {parity['exported_top1']:.2%}")
    if "top1_drop_interval" in parity:
        low, high = parity["top1_drop_interval"]
        lines.append(f"  the export is wrong where Keras is right on {parity['top1_lost']} of them, right where it "
                     f"is wrong on {parity['top1_gained']}: a top-1 drop's 95 % interval is "
                     f"{100 * low:+.2f} to {100 * high:+.2f} points")
    if report["calibration"]:
        calibration = report["calibration"]
        lines.append(f"  calibrated on {calibration['images']} {calibration['split']} images of {calibration['dataset']}")
    return lines


def cmd_export(args) -> int:
    from zoo import export, predict

    # Refused as `--quantize` without tflite is: an option that would do nothing.
    if args.calibration_images is not None and args.quantize != "int8":
        raise ValueError("Calibration images apply to int8 quantization only: use --quantize int8. "
                         f"Received: calibration_images={args.calibration_images}")
    report = export.export_model(
        args.model, args.out, format=args.format, quantize=args.quantize, dataset=args.dataset,
        data_dir=args.data_dir, parity_images=args.parity_images,
        calibration_images=args.calibration_images or export.CALIBRATION_IMAGES,
    )
    print("\n".join(_export_lines(report, args.out)))
    print(f"  report: {predict.report_path(args.out)}")
    return 0


def cmd_predict(args) -> int:
    from zoo import predict

    results = predict.predict_files(args.model, args.images, top_k=args.top_k)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        best = ", ".join(
            f"{c['name'] if c['name'] is not None else c['index']} ({c['probability']:.2%})" for c in result["top_k"]
        )
        print(f"{result['image']}: {best}")
    return 0


# `zoo bench`'s measuring options; None on the command line, so that `--from` can tell them given.
_BENCH_DEFAULTS = {"steps": 32, "rounds": 3, "runs": 50}


def cmd_bench(args) -> int:
    from zoo import bench

    if args.record and not (bench.CHECKOUT / "pyproject.toml").exists():
        raise ValueError("--record writes zoo/results.json and docs/ of a source checkout; this is an installed "
                         f"package. Received: --record in {str(bench.CHECKOUT)!r}")
    if args.out and (os.path.isdir(args.out) or not os.path.isdir(os.path.dirname(os.path.abspath(args.out)))):
        # Checked before minutes of measuring, not after.
        raise ValueError(f"--out must be a file in an existing folder. Received: --out {args.out!r}")
    if args.from_file:
        # What says how to measure would be ignored: refused, as `--calibration-images` without int8 is.
        measuring = {"MODEL": args.models, "--steps": args.steps, "--rounds": args.rounds, "--runs": args.runs,
                     "--precision": args.precision}
        for flag, value in measuring.items():
            if value:
                raise ValueError(f"--from measures nothing, so {flag} would do nothing: drop it, or measure "
                                 f"without --from. Received: {flag} {value!r}")
        results = _read_bench_results(args.from_file)
        if not (args.out or args.record):
            raise ValueError("--from measures nothing: say what to do with its results, --out FILE or --record. "
                             f"Received: --from {args.from_file!r}")
    else:
        import keras

        backend = keras.backend.backend()
        command = ("" if backend == "tensorflow" else f"KERAS_BACKEND={backend} ") + args.command
        results = bench.run(args.models or None, steps=args.steps or _BENCH_DEFAULTS["steps"],
                            rounds=args.rounds or _BENCH_DEFAULTS["rounds"], runs=args.runs or _BENCH_DEFAULTS["runs"],
                            progress=lambda line: print(line, flush=True), command=command,
                            precision=args.precision or "auto")
    if args.out:
        from zoo.callbacks import atomic_write

        atomic_write(args.out, lambda f: json.dump(results, f, indent=2))
        print(f"results in {args.out}")
    if args.record:
        page = bench.record(results)
        print(f"recorded in zoo/results.json and {page.relative_to(bench.CHECKOUT)}")
    return 0


def _read_bench_results(path: str) -> dict:
    """The JSON a `zoo bench --out` wrote, checked enough to record."""
    try:
        results = json.loads(Path(path).read_text())
        for result in results["models"].values():
            result["zoo"]["inference"]["keras"]
        results["machine"], results["peak_gflops"], results["command"]
    except FileNotFoundError:
        raise ValueError(f"No such file. Received: --from {path!r}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"Not the results of `zoo bench --out` ({type(error).__name__}: {one_line(error, 200)}). "
                         f"Received: --from {path!r}") from None
    if "machine_key" not in results:  # written before figures were kept per kind of machine
        if not results.get("accelerator"):
            raise ValueError("These results do not say which kind of CPU they come from (they predate "
                             f"`machine_key`): measure again with `zoo bench --out`. Received: --from {path!r}")
        from zoo.precision import Device

        results["machine_key"] = Device("gpu", results["accelerator"].split(" (")[0]).key
    return results


def cmd_filters(args) -> int:
    from zoo import figures
    from zoo.callbacks import make_output_folder, output_folder

    # As `zoo export --out`: the file's folder is made if missing, a path under a file refused.
    output_folder(args.out, argument="out", file=True)
    make_output_folder(Path(args.out).parent, argument="out")
    print(f"{args.bank} filter bank drawn in {figures.draw_bank(args.bank, args.out)}")
    return 0


def _version() -> str:
    """`zoo --version`: the zoo's, Keras' and the backend's versions, and Python's,
    as a run's summary.json records them."""
    import keras

    import zoo
    from zoo.training import _versions

    versions, backend = _versions(), keras.backend.backend()
    shown = f"{backend} {versions[backend]}" if backend in versions else backend
    return (f"keras-zoo {versions['keras-zoo']} from {os.path.dirname(zoo.__file__)} "
            f"(Keras {versions['keras']}, backend {shown}; Python {versions['python']})")


class _PrintVersion(argparse.Action):
    """`--version` on one line: argparse's own action wraps it to the terminal's width."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the versions of keras-zoo, Keras, its backend and Python, and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zoo", description="keras-zoo: convnet factories and recipes.")
    parser.add_argument("--version", action=_PrintVersion)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("list", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern (default: *)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--pretrained", action="store_true", help="only models with weight sets")
    p.set_defaults(run=cmd_list)

    p = commands.add_parser("info", help="describe one model")
    p.add_argument("name", help="a model name from `zoo list`")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON")
    output.add_argument("--markdown", action="store_true", help="print the model card (docs/models/NAME.md)")
    p.set_defaults(run=cmd_info)

    p = commands.add_parser("train", help="train a model with its recipe")
    p.add_argument("model", help="a model name from `zoo list`")
    _add_data_arguments(p)
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--batch-size", type=int, help="default: the recipe's")
    p.add_argument("--lr", type=float, help="peak learning rate; default: the recipe's")
    p.add_argument("--seed", type=int, help="make a CPU run reproducible")
    p.add_argument("--strategy", choices=["mirrored", "multiworker"],
                   help="tf.distribute strategy (Keras' TensorFlow backend only)")
    p.add_argument("--out", help="output directory (default: runs/MODEL)")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("finetune", help="fine-tune a pretrained model in two phases")
    p.add_argument("model", help="vgg16, vgg19, resnet50 or mobilenet_v2")
    _add_data_arguments(p)
    p.add_argument("--weights", default="imagenet", help="imagenet (default) or a weights file")
    p.add_argument("--epochs", type=int, help="phase 1 (new head) epochs")
    p.add_argument("--fine-epochs", type=int, help="phase 2 (top blocks too) epochs")
    p.add_argument("--lr", type=float, help="phase 1 peak learning rate")
    p.add_argument("--fine-lr", type=float, help="phase 2 peak learning rate")
    p.add_argument("--unfreeze", type=int, help="top stages trained in phase 2 (default 1)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int, help="make a CPU run reproducible")
    p.add_argument("--out", help="output directory (default: runs/MODEL-finetune)")
    p.set_defaults(run=cmd_finetune)

    p = commands.add_parser("tune", help="search a model's hyperparameters with keras-tuner")
    p.add_argument("model", help="a model name from `zoo list`")
    _add_data_arguments(p)
    p.add_argument("--tuner", choices=["random", "hyperband", "bayesian"], default="random",
                   help="search algorithm (default: random)")
    p.add_argument("--max-trials", type=int, default=10, help="trials in the whole search (default 10)")
    p.add_argument("--epochs", type=int, help="epochs per trial (per phase when fine-tuning; Hyperband's most); "
                   "default: the recipe's")
    p.add_argument("--weights", help="fine-tuned models (vgg16, vgg19, resnet50, mobilenet_v2): imagenet "
                   "(default) or a weights file")
    p.add_argument("--seed", type=int, help="seed of the tuner and of Keras")
    p.add_argument("--chief-timeout", type=float, default=120.0,
                   help="distributed workers: seconds to wait for the chief (default 120)")
    p.add_argument("--out", help="output directory (default: runs/MODEL-tune)")
    p.set_defaults(run=cmd_tune)

    from zoo.export import CALIBRATION_IMAGES, FORMATS, PARITY_IMAGES, QUANTIZATIONS

    p = commands.add_parser("export", help="export a .keras model to SavedModel, TFLite or ONNX, checked on real images")
    p.add_argument("model", help="a .keras file, e.g. runs/mnist_convnet/model.keras")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--quantize", default="none", choices=QUANTIZATIONS, help="TFLite only (default: none)")
    p.add_argument("--dataset", help="calibration and parity images (default: mnist:sample for 1-channel "
                   "inputs, cifar10:sample for 3)")
    p.add_argument("--data-dir", help="the dataset's files (with --dataset)")
    p.add_argument("--calibration-images", type=_positive_int, metavar="N",
                   help=f"--quantize int8: calibration images from the training split (default: {CALIBRATION_IMAGES})")
    p.add_argument("--parity-images", type=_positive_int, default=PARITY_IMAGES, metavar="N",
                   help=f"test images to compare with Keras on (default: {PARITY_IMAGES})")
    p.add_argument("--out", required=True, metavar="PATH", help="the .tflite or .onnx file or SavedModel directory; the "
                   "report goes to PATH.json")
    p.set_defaults(run=cmd_export)

    p = commands.add_parser("predict", help="top-k classes of PNG, JPEG, GIF, BMP or WebP images")
    p.add_argument("model", help="a .keras file, SavedModel directory, .tflite or .onnx file, or MODEL:TAG "
                   "for shipped weights (e.g. mnist_convnet:mnist)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, GIF, BMP or WebP files")
    p.add_argument("--top-k", type=_positive_int, default=5, metavar="K", help="classes per image (default: 5)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_predict)

    p = commands.add_parser("bench", help="training and inference speed beside plain-Keras baselines")
    p.add_argument("models", nargs="*", metavar="MODEL", help="default: every model with a recipe")
    p.add_argument("--steps", type=_positive_int,
                   help=f"timed training steps per round (default: {_BENCH_DEFAULTS['steps']})")
    p.add_argument("--rounds", type=_positive_int,
                   help=f"alternating rounds with the baseline (default: {_BENCH_DEFAULTS['rounds']})")
    p.add_argument("--runs", type=_positive_int,
                   help=f"timed calls per batch-1 latency (default: {_BENCH_DEFAULTS['runs']})")
    _add_precision_argument(p)
    p.set_defaults(precision=None)  # auto; None tells `--from` that it was not given
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--record", action="store_true",
                   help="write zoo/results.json and docs/benchmarks/bench-MACHINE.md, beside other machines' figures")
    p.add_argument("--from", dest="from_file", metavar="RESULTS",
                   help="measure nothing: take the results a `zoo bench --out` wrote (on another machine, say), "
                        "for --out or --record")
    p.set_defaults(run=cmd_bench)

    p = commands.add_parser("filters", help="draw a fixed filter bank as a PNG")
    p.add_argument("bank", choices=["edge", "lm"], help="edge: Sobel, Prewitt, Scharr; lm: Leung-Malik")
    p.add_argument("--out", required=True, help="the PNG file to write")
    p.set_defaults(run=cmd_filters)
    return parser


# Third-party messages (a library's, the system's) are cut to this length.
MESSAGE_LIMIT = 600


def _message(error: BaseException) -> str:
    """The error on one line: whole when the zoo wrote it, cut when a library did.

    The zoo's own messages say what to do and end with `Received: ...`;
    what they quote from a library is cut where they quote it.
    """
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    ours = module == "zoo" or module.startswith("zoo.")
    return one_line(error, None if ours else MESSAGE_LIMIT)


def _stdout_is_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (`zoo list | head -1`)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor
        return True


# The most the JAX backend's kept programs may take on disk (with `filelock`).
JAX_CACHE_BYTES = 512 * 2**20


def cache_jax_compilations() -> str | None:
    """On Keras' JAX backend, keeps XLA's compiled programs between commands.

    JAX compiles every program a run needs, down to each shape's weight
    initializer; kept in `$ZOO_CACHE_DIR/jax` (see `zoo._common.cache_dir`),
    they load in later runs instead: `zoo train mnist_convnet --dataset
    mnist:sample --epochs 1 --seed 1` took 9.4 s to 9.9 s with the cache
    filled, against 13.9 s to 14.5 s with it off (3 runs each, the same
    weights), on a 2-core Intel Xeon (Emerald Rapids). Programs are kept
    whatever their compile time (JAX's own default keeps those over a
    second, which most of these are not), up to 512 MiB where the
    `filelock` package is installed (the `jax` extra installs it), the
    least recently used going first; without it, JAX keeps them all. A
    cache set up by the user (`JAX_COMPILATION_CACHE_DIR`) or turned off
    (`JAX_ENABLE_COMPILATION_CACHE=false`) is left as it is, and a folder
    that cannot be written turns nothing on.

    Returns:
        The folder, or None where the cache was left alone (and on the
        other backends).
    """
    import keras

    if keras.backend.backend() != "jax":
        return None
    import importlib.util

    import jax

    from zoo._common import cache_dir

    if jax.config.jax_compilation_cache_dir or not jax.config.jax_enable_compilation_cache:
        return None
    folder = os.path.join(cache_dir(), "jax")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if "JAX_COMPILATION_CACHE_MAX_SIZE" not in os.environ and importlib.util.find_spec("filelock"):
        jax.config.update("jax_compilation_cache_max_size", JAX_CACHE_BYTES)
    return folder


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command = shlex.join(["zoo", *argv])
    cache_jax_compilations()
    try:
        code = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError as e:
        if not _stdout_is_closed():
            print(f"zoo: error: {_message(e)}", file=sys.stderr)
            return 1
        # As the `signal` module's documentation advises: the reader stopped
        # reading (`| head`), which is no error to report; Python's own flush
        # at exit must not fail again, so stdout goes to devnull.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor: nothing flushes at exit
            pass
        return 1
    except (ValueError, OSError, FloatingPointError) as e:
        print(f"zoo: error: {_message(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a defect, not bad input: still one line, the traceback on request
        if os.environ.get("ZOO_TRACEBACK"):
            raise
        print(f"zoo: error: {type(e).__name__}: {one_line(e, MESSAGE_LIMIT)} (this is a bug in keras-zoo or a library it "
              "uses; set ZOO_TRACEBACK=1 for the traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
