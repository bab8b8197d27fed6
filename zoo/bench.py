"""Benchmarks of the zoo's models on this machine: `zoo bench`.

For each model, in one run: training throughput with its recipe (images per
second, achieved GFLOP/s, and that as a fraction of the machine's peak in the
precision it trains in, as float32 and bfloat16 matmul probes before and after
the models measure it), inference latency at
batch 1 and 64 for the Keras model, its SavedModel and its TFLite float32 and
int8 files, parameters, FLOPs and file sizes; and the same figures for its
plain-Keras baseline (`zoo.baselines`), as ratios.

On another Keras backend (JAX or PyTorch, on a GPU machine, say) the run
measures what that backend runs: training and the Keras model's latency;
SavedModel and TFLite are TensorFlow's and are left out. On PyTorch, Keras
runs one training step per call (`steps_per_execution` 1). A run on an
accelerator is recorded beside the CPU figures, under its device's name,
never in their place.

Real images from the samples shipped with the package feed every measurement
(int8 calibration included). Training FLOPs are counted as three times the
forward pass (forward, and the two products of the backward pass).
`record` writes the figures to `zoo/results.json` (read by
`zoo.model_info`), beside the figures of other kinds of machine, and a
Markdown table to `docs/benchmarks/bench-KEY.md` (KEY: `cpu-avx512-bf16-zen-5`,
`cpu-avx2-zen-3`, `gpu-nvidia-h200`, ...; see `zoo.precision.Device.key`).
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from zoo import baselines, export, training
from zoo._common import check_positive_int, one_line
from zoo.flops import count_flops
from zoo.precision import (
    POLICIES,
    PROBE_MARGIN,
    Precision,
    candidates,
    choose_precision,
    current_device,
    probe_enabled,
)
from zoo.predict import SavedModelRunner, TFLiteRunner, fit_images, quiet_native_logs
from zoo.registry import RESULTS_PATH, create_model, get_model_factory, update_results

BATCHES = (1, 64)
RUNTIMES = ("keras", "saved_model", "tflite_float32", "tflite_int8")
CALIBRATION_IMAGES = 200
# The precision probe's most steps per compiled call (`precision_probe`).
PROBE_STEPS = 8
# `record` writes into a source checkout: the package's results file and the docs.
CHECKOUT = Path(__file__).resolve().parents[1]
DOCS = CHECKOUT / "docs" / "benchmarks"


def bench_page(key: str) -> Path:
    """The page of one kind of machine's figures: `docs/benchmarks/bench-KEY.md`."""
    return DOCS / f"bench-{key}.md"


def accelerator() -> str | None:
    """The name and count of the GPUs Keras' backend computes on, or None."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        names = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
    elif backend == "torch":
        import torch

        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
            if torch.cuda.is_available() else []
    else:
        raise ValueError(f"zoo bench runs on the TensorFlow, JAX or PyTorch backend. Received: backend={backend!r}")
    return f"{names[0]} ({len(names)} GPU)" if names else None


def runtimes() -> tuple[str, ...]:
    """The runtimes this process can time: SavedModel and TFLite need TensorFlow."""
    return RUNTIMES if keras.backend.backend() == "tensorflow" else ("keras",)


def machine() -> str:
    """The accelerator's name, or the CPU's model name and what decides its
    speed here (AVX-512 with BF16 or not); with the logical CPU count."""
    gpu = accelerator()
    if gpu:
        return f"{gpu}, {os.cpu_count()} logical CPUs"
    return f"{current_device().describe()}, {os.cpu_count()} logical CPUs"


def latency_ms(call, x, *, warmup: int = 10, runs: int = 50) -> float:
    """The median wall time of `call(x)` in milliseconds, after warm-up calls."""
    for _ in range(warmup):
        call(x)
    return 1000 * statistics.median(_timed(lambda: call(x)) for _ in range(runs))


def matmul_peak_gflops(dtype: str = "float32", n: int | None = None, repeats: int = 10) -> float:
    """The best matmul rate of this machine in `dtype`, in GFLOP/s.

    The probe every throughput is compared with: `n`x`n` products in a
    compiled function of Keras' backend (an eager `torch.matmul` on
    PyTorch), the best of `repeats` timed calls (`n` defaults to 2048 on a
    CPU, 8192 on a GPU). CPUs with bfloat16
    instructions multiply bfloat16 faster than float32, so recipes that
    train in bfloat16 are compared with the bfloat16 probe.
    """
    n = n or (8192 if accelerator() else 2048)
    a = np.random.default_rng(0).random((n, n), dtype="float32")
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        a = jax.numpy.asarray(a, dtype)
        product = jax.jit(lambda m: m @ m)
        call = lambda: product(a).block_until_ready()  # noqa: E731
    elif backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        a = torch.as_tensor(a, device=device).to(getattr(torch, dtype))
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

        def call():
            with torch.no_grad():
                torch.matmul(a, a)
            sync()
    else:
        import tensorflow as tf

        a = tf.cast(a, dtype)
        product = tf.function(lambda m: tf.matmul(m, m))
        call = lambda: product(a).numpy()  # noqa: E731
    call()
    best = min(_timed(call) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sample_images(input_shape, count: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Real images and labels from the shipped samples, fitted to `input_shape`."""
    from zoo.data import read_sample

    name = "mnist:sample" if input_shape[-1] == 1 else "cifar10:sample"
    (x, y), _, _ = read_sample(name)
    return fit_images(x[:count], input_shape), y[:count]


def _whole_batches(x, labels, batch_size: int, classes: int):
    """The images and one-hot labels as whole batches, `(batches, batch_size, ...)`,
    made up front: no per-image work in the timed steps."""
    batches = max(1, len(x) // batch_size)
    index = (np.arange(batches * batch_size) % len(x)).reshape(batches, batch_size)
    return x[index], np.eye(classes, dtype="float32")[labels[index]]


def _compile_for_timing(model: keras.Model, optimizer, steps_per_execution: int) -> int:
    """Compiles `model` for timed training steps; returns the steps per
    compiled call it runs: 1 on PyTorch, whose Keras trainer runs one."""
    if keras.backend.backend() == "torch":
        steps_per_execution = 1
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return steps_per_execution


def training_throughput(model: keras.Model, optimizer, batch_size: int, x, labels, *,
                        steps_per_execution: int = 1, steps: int = 32):
    """Compiles `model` and returns `measure(steps=steps)`, which times that many steps.

    `measure()` returns images per second of `model.fit` on the float32
    images `x` held in memory, from its first step to its last; the
    warm-up steps run before this returns. Callers alternate the measures of models they
    compare and keep each one's best, so that a drift in the machine's speed
    hits both alike.
    """
    classes = model.output_shape[-1]
    steps_per_execution = _compile_for_timing(model, optimizer, steps_per_execution)
    steps = max(steps, steps_per_execution) // steps_per_execution * steps_per_execution
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices(_whole_batches(x, labels, batch_size, classes))
        data = data.repeat().prefetch(tf.data.AUTOTUNE)
        fit = lambda n, callbacks: model.fit(data, steps_per_epoch=n, epochs=1, shuffle=False, verbose=0,  # noqa: E731
                                             callbacks=callbacks)
    else:  # arrays of exactly the steps' batches
        def fit(n, callbacks):
            index = np.arange(n * batch_size) % len(x)
            return model.fit(x[index], np.eye(classes, dtype="float32")[labels[index]], batch_size=batch_size,
                             epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    clock = _TrainingClock()
    fit(steps_per_execution * 2, [])  # trace, warm up

    def measure(n=steps):
        n = max(n, steps_per_execution) // steps_per_execution * steps_per_execution
        fit(n, [clock])
        return n * batch_size / clock.seconds

    return measure


class _CallClock(keras.callbacks.Callback):
    """Times the compiled calls of one `fit` and stops it when enough are timed.

    The first `warmup` calls (tracing, the first kernels) are not timed; the
    calls after them are, until they number at least `calls` and last at
    least `seconds` in all.
    """

    def __init__(self, *, warmup: int, seconds: float, calls: int):
        super().__init__()
        self.warmup, self.seconds, self.calls = warmup, seconds, calls
        self.ends, self.steps = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())
        self.steps.append(batch + 1)  # steps done so far: a call reports its last step
        timed = len(self.ends) - self.warmup
        if timed >= self.calls and self.ends[-1] - self.ends[self.warmup - 1] >= self.seconds:
            self.model.stop_training = True

    def rates(self, batch_size: int, rounds: int) -> list[float]:
        """Images per second of each of `rounds` runs of consecutive timed calls."""
        seconds = np.diff(self.ends[self.warmup - 1 :])
        steps = np.diff(self.steps[self.warmup - 1 :])
        return [float(steps[i].sum() * batch_size / seconds[i].sum())
                for i in np.array_split(np.arange(len(seconds)), rounds) if len(i)]


def probe_rate(model: keras.Model, optimizer, batch_size: int, x, labels, *, steps_per_execution: int = 1,
               seconds: float = 0.5, rounds: int = 2, warmup: int = 1) -> float:
    """Compiles `model` and times its training in one `fit`: images per second.

    The first `warmup` compiled calls of `steps_per_execution` steps trace
    and warm up; the calls after them are timed until they last `rounds` x
    `seconds` (at least one call per round), then the fit stops. Of
    `rounds` runs of consecutive timed calls the fastest counts: a pause of
    the machine slows only some. All in one `fit`, as each `fit` costs a new
    input iterator and a wind-down: up to half a second a call in
    cifar10_net's float32 probe on a 2-core Zen 5, which a `fit` per round
    paid again. There the second call of mnist_convnet and of cifar10_net
    already ran at the steady rate, in either precision.

    Args:
        model: An uncompiled Keras model.
        optimizer: What `model.compile` takes.
        batch_size: Images per step.
        x: Float32 images, held in memory and cycled through.
        labels: Their integer labels.
        steps_per_execution: Steps per compiled call (1 on PyTorch).
            Defaults to 1.
        seconds: Of each timed round. Defaults to 0.5.
        rounds: Defaults to 2.
        warmup: Calls before the timed ones, at least 1. Defaults to 1.

    Returns:
        Training images per second, the best round's.

    Examples:

        >>> import zoo
        >>> x, labels = sample_images((28, 28, 1))
        >>> probe_rate(zoo.mnist_convnet(), "adam", 64, x.astype("float32"), labels, seconds=0.05) > 0
        True
    """
    check_positive_int("warmup", warmup)
    check_positive_int("rounds", rounds)
    if not seconds > 0:
        raise ValueError(f"`seconds` must be positive. Received: seconds={seconds!r}")
    steps_per_execution = _compile_for_timing(model, optimizer, steps_per_execution)
    images, targets = _whole_batches(x, labels, batch_size, model.output_shape[-1])
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((images, targets)).repeat().prefetch(tf.data.AUTOTUNE)
    else:
        def cycle():
            while True:
                yield from zip(images, targets)

        data = cycle()
    clock = _CallClock(warmup=warmup, seconds=rounds * seconds, calls=rounds)
    # The clock stops the fit long before these steps, which only bound it.
    model.fit(data, steps_per_epoch=steps_per_execution * 1_000_000, epochs=1, shuffle=False, verbose=0,
              callbacks=[clock])
    return max(clock.rates(batch_size, rounds))


def precision_probe(name: str, recipe: training.Recipe, *, input_shape, classes: int, batch_size: int,
                    model_kwargs: dict | None = None, steps: int = PROBE_STEPS, rounds: int = 2,
                    seconds: float = 0.5):
    """Returns `measure(precisions)` for `zoo.precision.choose_precision`.

    `measure(["bfloat16", "float32"])` builds the model in each precision
    in turn (with no pretrained weights) and times training steps of its
    recipe's optimizer on the shipped sample images, in one `fit` each
    (`probe_rate`): a compiled call of up to `steps` steps to trace and warm
    up, then calls for about `rounds` x `seconds`, the best of `rounds` runs
    of them: `{precision: images per second}`.
    Each precision's model is released before the next is built. A probe
    costs a model's build, compile and trace and about a second of steps per
    precision: on a 2-core Zen 5, 4 s for mnist_convnet, 7 s for cifar10_net
    and 32 s for ResNet-50 at 32x32 (36 s with a `fit` per round before),
    most of that building and tracing the model.

    Examples:

        >>> from zoo import training
        >>> measure = precision_probe("mnist_convnet", training.get_recipe("mnist_convnet"),
        ...                           input_shape=(28, 28, 1), classes=10, batch_size=64)
        >>> sorted(measure(["float32"]))  # doctest: +SKIP
        ['float32']
    """
    import gc
    import inspect

    kwargs = {**(model_kwargs or {}), "input_shape": tuple(input_shape), "classes": classes}
    if "weights" in inspect.signature(get_model_factory(name)).parameters:
        kwargs["weights"] = None  # the speed is the architecture's; nothing is downloaded
    steps_per_execution = max(1, min(recipe.steps_per_execution, steps))

    def measure(precisions):
        x, labels = sample_images(tuple(input_shape))
        x, labels = x.astype("float32"), labels % classes
        rates = {}
        for name_ in precisions:
            try:
                with training._dtype_policy(POLICIES[name_]):
                    model = create_model(name, **kwargs)
                rates[name_] = probe_rate(model, training._optimizer(recipe, recipe.lr, None), batch_size, x,
                                          labels, steps_per_execution=steps_per_execution, seconds=seconds,
                                          rounds=rounds)
            except Exception as e:  # the backends raise many types
                if name_ == "float32":  # nothing to fall back on: training would fail alike
                    raise
                model = None
                if isinstance(e, ValueError):  # the model's arguments, not its precision? Then say so.
                    create_model(name, **kwargs)  # in float32: raises the same error for them
                # A 16-bit kernel missing or failing here: float32 trains instead.
                warnings.warn(f"{name} did not train in {name_} here ({type(e).__name__}: {one_line(e, 200)}); "
                              "--precision auto keeps float32.", stacklevel=2)
                rates[name_] = 0.0
            model = None
            gc.collect()
        return rates

    return measure


# Model arguments the probe's cache key leaves out: the shape and classes,
# keyed on their own; pretrained weights, which the probe never loads; and
# what acts only at inference (test-time views), which the timed training
# steps never run.
UNPROBED_KWARGS = ("input_shape", "classes", "weights", "test_time_augmentation")


def probe_config(name: str, *, input_shape, classes: int, batch_size: int, model_kwargs: dict | None = None) -> dict:
    """What a model's probed rates depend on besides the machine: its cache
    key (the arguments but `UNPROBED_KWARGS`).

    Examples:

        >>> probe_config("cifar10_net", input_shape=(32, 32, 3), classes=10, batch_size=256,
        ...              model_kwargs={"test_time_augmentation": "flip_translate", "dropout": 0.1})["model_kwargs"]
        {'dropout': 0.1}
    """
    kwargs = {k: v for k, v in (model_kwargs or {}).items() if k not in UNPROBED_KWARGS}
    return {"model": name, "input_shape": list(input_shape), "classes": classes, "batch_size": batch_size,
            "model_kwargs": json.loads(json.dumps(kwargs, default=str))}


def choose_model_precision(precision: str, name: str, recipe: training.Recipe, *, input_shape, classes: int,
                           batch_size: int, model_kwargs: dict | None = None, progress=None) -> Precision:
    """`choose_precision(precision)` for training `name` with `recipe`: `auto`
    times the model in each candidate precision where there is more than one
    (once per machine, cached; see `zoo.precision`)."""
    shape = dict(input_shape=tuple(input_shape), classes=classes, batch_size=batch_size, model_kwargs=model_kwargs)
    return choose_precision(precision, measure=precision_probe(name, recipe, **shape),
                            config=probe_config(name, **shape), progress=progress)


class _TrainingClock(keras.callbacks.Callback):
    """The wall time from the first training step to the last of a `fit`.

    Returning from `fit` sometimes waits seconds for TensorFlow's runtime to
    wind down after the last step; that is no training, so it is left out.
    """

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def inference(model: keras.Model, x, folder: Path, *, runs: int) -> dict:
    """Latency at each of `BATCHES` on the images `x` and file sizes, for
    Keras and, with TensorFlow, its exports (int8 calibrated on `x`)."""
    x = np.asarray(x, "float32")
    batches = {b: np.concatenate([x] * -(-b // len(x)))[:b] for b in BATCHES}
    keras_path = folder / "model.keras"
    model.save(keras_path)
    callers, sizes = {"keras": model.predict_on_batch}, {"keras": keras_path}
    if "saved_model" in runtimes():
        saved = export.export_saved_model(model, str(folder / "saved_model"))
        float_file = export.export_tflite(model, str(folder / "float32.tflite"))
        int8_file = export.export_tflite(model, str(folder / "int8.tflite"), "int8",
                                         calibration=x[:CALIBRATION_IMAGES])
        threads = os.cpu_count() or 1
        with quiet_native_logs():
            callers.update(saved_model=SavedModelRunner(saved), tflite_float32=TFLiteRunner(float_file, threads),
                           tflite_int8=TFLiteRunner(int8_file, threads))
        sizes.update(saved_model=Path(saved), tflite_float32=Path(float_file), tflite_int8=Path(int8_file))
    result = {
        runtime: {f"batch{b}_ms": round(latency_ms(call, batches[b], runs=runs if b == 1 else max(5, runs // 5)), 4)
                  for b in BATCHES}
        for runtime, call in callers.items()
    }
    for runtime, path in sizes.items():
        result[runtime]["bytes"] = export.size_bytes(path)
    return result


def _configuration(name: str) -> tuple[dict, training.Recipe]:
    """The model arguments and recipe a benchmark of `name` uses."""
    recipe = training.get_recipe(name)
    kwargs = {"classes": 10, **recipe.model_kwargs}
    return kwargs, recipe


def bench_model(name: str, *, peaks: dict, steps: int = 32, rounds: int = 3, runs: int = 50,
                precision: Precision | None = None, progress=None) -> dict:
    """Measures one model and its baseline; see the module docstring.

    Args:
        name: A registered model with a recipe.
        peaks: The machine's matmul rates, `{"float32": ..., "bfloat16": ...}`
            and the precision's, if another.
        precision: The precision the model trains in. Defaults to the
            recipe's (`"auto"`), chosen for this model on this machine
            (`choose_model_precision`, which may time it).
        progress: Told when the model is timed to choose its precision.
        steps: Timed training steps per round. Defaults to 32.
        rounds: Alternating timed rounds of the model and its baseline; the
            best of each counts. Defaults to 3.
        runs: Timed calls per batch-1 latency. Defaults to 50.

    Returns:
        `{"zoo": {...}, "baseline": {...}, "ratios": {...}}`.
    """
    kwargs, recipe = _configuration(name)
    model = create_model(name, **kwargs)
    shape = tuple(model.input_shape[1:])
    precision = precision or choose_model_precision(
        recipe.precision, name, recipe, input_shape=shape, classes=kwargs["classes"], batch_size=recipe.batch_size,
        model_kwargs=kwargs, progress=progress)
    images, labels = sample_images(shape)
    x, x_base = images.astype("float32"), images.astype("float32") / 255.0  # the examples take [0, 1]
    flops = count_flops(model)

    with training._dtype_policy(precision.policy):
        trained = create_model(name, **kwargs)
    measure_zoo = training_throughput(
        trained, training._optimizer(recipe, recipe.lr, None), recipe.batch_size, x, labels,
        steps_per_execution=recipe.steps_per_execution, steps=steps,
    )
    baseline = baselines.BASELINES[name]
    reference = baseline.build(shape, 10)
    measure_base = training_throughput(reference, baseline.optimizer(), baseline.batch_size, x_base, labels,
                                       steps=steps)
    zoo_speed = base_speed = 0.0
    for _ in range(rounds):
        zoo_speed, base_speed = max(zoo_speed, measure_zoo()), max(base_speed, measure_base())
    reference_flops = count_flops(reference)

    def figures(speed, model_flops, dtype):
        achieved = speed * 3 * model_flops / 1e9
        side = {"train_images_per_second": round(speed, 1), "train_gflops": round(achieved, 1), "compute_dtype": dtype}
        return {**side, "fraction_of_peak": _fraction_of_peak(side, peaks)}

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "zoo").mkdir()
        (Path(tmp) / "baseline").mkdir()
        zoo_inference = inference(model, x, Path(tmp) / "zoo", runs=runs)
        base_inference = inference(reference, x_base, Path(tmp) / "baseline", runs=runs)
    zoo = {"input_shape": list(shape), "params": model.count_params(), "flops": flops,
           "batch_size": recipe.batch_size, "precision": precision.name, "precision_reason": precision.reason,
           **({"precision_probe": precision.probe["rates"]} if precision.probe else {}),
           **figures(zoo_speed, flops, precision.name),
           "inference": zoo_inference}
    base = {"name": baseline.name, "params": reference.count_params(), "flops": reference_flops,
            "batch_size": baseline.batch_size, **figures(base_speed, reference_flops, "float32"),
            "inference": base_inference}
    ratios = {"train_images_per_second": round(zoo_speed / base_speed, 2)}
    for runtime in zoo_inference:
        for b in BATCHES:
            key = f"batch{b}_ms"
            ratios[f"{runtime}_{key}"] = round(zoo_inference[runtime][key] / base_inference[runtime][key], 2)
    return {"zoo": zoo, "baseline": base, "ratios": ratios}


def _peaks_text(peaks: dict, *, unit_twice: bool = True) -> str:
    """The matmul peaks for a line: `468.0 GFLOP/s float32, 858.0 GFLOP/s bfloat16`.
    bfloat16 is missing where oneDNN is held below the CPU's bfloat16
    instructions (`Device.bfloat16_held_back`), which abort its matmul."""
    text = f"{peaks['float32']:,.1f} GFLOP/s float32"
    if peaks.get("bfloat16") is None:
        return text + " (bfloat16 not timed: oneDNN is held below the CPU's bfloat16 instructions)"
    return text + f", {peaks['bfloat16']:,.1f}{' GFLOP/s' if unit_twice else ''} bfloat16"


def _fraction_of_peak(side: dict, peaks: dict) -> float:
    """A side's training GFLOP/s over the machine's peak in its precision."""
    return round(side["train_gflops"] / peaks[side["compute_dtype"]], 3)


def run(names: list[str] | None = None, *, steps: int = 32, rounds: int = 3, runs: int = 50,
        progress=print, command: str | None = None, precision: str = "auto") -> dict:
    """Benchmarks `names` (default: every model with a recipe) in one run.

    The models train in `precision` (default `"auto"`: chosen for each
    model on this machine, see `zoo.precision` and
    `choose_model_precision`), the plain-Keras baselines in float32.
    `command` is what the results say ran them (default: `zoo bench NAMES`).
    """
    chosen = choose_precision(precision)
    options = candidates(chosen.device)
    # `auto` with a 16-bit candidate: bench_model chooses each model's, timed.
    per_model = precision == "auto" and len(options) > 1 and probe_enabled()
    asked = {"name": chosen.name, "reason": chosen.reason}
    if per_model:
        asked = {"name": "auto", "reason": (
            f"{chosen.reason}; each model trains in the faster of {' and '.join(options)} "
            f"for it, timed once per machine (faster by at least {PROBE_MARGIN:.2f}x for 16 bits)")}
    names = names or [n for n in training.RECIPES]
    for name in names:
        get_model_factory(name)  # unknown names raise with close matches
        if name not in baselines.BASELINES:
            raise ValueError(f"No baseline for {name!r}. Received: model={name!r}")
    dtypes = tuple(dict.fromkeys(("float32", "bfloat16", *options, chosen.name)))
    if chosen.device.bfloat16_held_back:  # its matmul would abort the process
        dtypes = tuple(d for d in dtypes if d != "bfloat16")
    probe = lambda: {dtype: round(matmul_peak_gflops(dtype), 1) for dtype in dtypes}  # noqa: E731
    peaks = probe()
    progress(f"precision {asked['name']}: {asked['reason']}; on {chosen.device.describe()}")
    progress(f"matmul probe: {_peaks_text(peaks)}")
    results = {
        "machine": machine(), "machine_key": chosen.device.key, "accelerator": accelerator(),
        "backend": keras.backend.backend(),
        "precision": asked, "device": chosen.device.to_json(),
        "peak_gflops": peaks, "measured": datetime.date.today().isoformat(),
        "command": command or "zoo bench " + " ".join(names), "models": {},
    }
    for name in names:
        progress(f"{name} ...")
        results["models"][name] = bench_model(name, peaks=peaks, steps=steps, rounds=rounds, runs=runs,
                                              precision=None if per_model else chosen,
                                              progress=progress)
        progress(summary_line(name, results["models"][name]))
    # A busy moment can slow one probe; the machine's peak is the best of both.
    again = probe()
    if any(again[d] > peaks[d] for d in peaks):
        peaks.update({d: max(peaks[d], again[d]) for d in peaks})
        progress(f"matmul probe again: {_peaks_text(peaks)} (the best of both); fractions of peak use these")
        for result in results["models"].values():
            for side in (result["zoo"], result["baseline"]):
                side["fraction_of_peak"] = _fraction_of_peak(side, peaks)
    return results


def summary_line(name: str, result: dict) -> str:
    zoo, ratios = result["zoo"], result["ratios"]
    return (
        f"{name}: trains at {zoo['train_images_per_second']:,.0f} images/s ({zoo['train_gflops']:.1f} GFLOP/s, "
        f"{zoo['fraction_of_peak']:.0%} of the {zoo['compute_dtype']} peak; {ratios['train_images_per_second']:.2f}x "
        f"{result['baseline']['name']}); batch-1 latency Keras {zoo['inference']['keras']['batch1_ms']:.2f} ms"
        + (f", TFLite int8 {zoo['inference']['tflite_int8']['batch1_ms']:.3f} ms" if "tflite_int8" in zoo["inference"]
           else "")
    )


# What a run records beside each model's figures (`record`).
RUN_KEYS = ("machine", "machine_key", "accelerator", "backend", "precision", "device", "peak_gflops", "measured",
            "command")


def _runs(results: dict) -> list[tuple[dict, list[str]]]:
    """The runs whose figures `results` holds, each with its models: one for
    a fresh run, several for a page gathered from `zoo/results.json`."""
    runs: dict[str, tuple[dict, list[str]]] = {}
    for name, result in results["models"].items():
        run = {k: result.get(k, results.get(k)) for k in ("command", "measured", "peak_gflops", "precision")}
        runs.setdefault(json.dumps(run, sort_keys=True), (run, []))[1].append(name)
    return list(runs.values())


def _run_lines(results: dict) -> list[str]:
    runs = _runs(results)
    if len(runs) > 1:
        lines = [f"Measured on {results['machine']}, with Keras' {results.get('backend', 'tensorflow')} backend, "
                 f"in {len(runs)} runs, each model beside its baseline in the same run:", ""]
        for run, names in runs:
            precision = "" if not run.get("precision") else "; precision chosen per model" \
                if run["precision"]["name"] == "auto" else f"; models in {run['precision']['name']}"
            lines.append(f"- `{run['command']}`, {run['measured']}: matmul probe "
                         f"{_peaks_text(run['peak_gflops'], unit_twice=False)}{precision}; {', '.join(names)}.")
        return [*lines, "", "Each model is compared with its run's peak in the precision it trains in. Training: "
                "the model's recipe (batch size, optimizer), the baseline in float32,"]
    return [
        f"Measured by `{results['command']}` on {results['machine']}, with Keras' "
        f"{results.get('backend', 'tensorflow')} backend,",
        f"{results['measured']}. The matmul probe, best of one before and one after the models, reached",
        (f"{results['peak_gflops']['float32']:,.1f} GFLOP/s in float32 and {results['peak_gflops']['bfloat16']:,.1f} "
         "GFLOP/s in bfloat16" if results["peak_gflops"].get("bfloat16") is not None else
         _peaks_text(results["peak_gflops"]))
        + " in the same run; each model is compared with the peak of the precision it",
        "trains in. " + (
            ("Training: the model's recipe (batch size, optimizer) in the precision chosen for it "
             if results["precision"]["name"] == "auto" else
             f"Training: the model's recipe (batch size, optimizer) in {results['precision']['name']} ")
            + f"({results['precision']['reason']}), the baseline in float32,"
            if "precision" in results else  # recorded before the precision was chosen per machine
            "Training: the model's recipe (batch size, optimizer, bfloat16 where the recipe uses it)"
        ),
    ]


def markdown(results: dict) -> str:
    """The results as a Markdown page (`bench_page(results["machine_key"])`)."""
    backend = results.get("backend", "tensorflow")
    measured_runtimes = [r for r in RUNTIMES if r in next(iter(results["models"].values()))["zoo"]["inference"]]
    lines = [
        "# zoo bench" + (f" on {results['accelerator']}" if results.get("accelerator") else ""),
        "",
        *_run_lines(results),
        "on real sample images, the best of rounds alternating with the baseline;",
        "GFLOP/s counts 3x the forward FLOPs. Latency: median wall time of a call on real images.",
        "Ratios are zoo / baseline: above 1 for training means faster, below 1 for latency means faster.",
        "",
    ]
    if "tflite_int8" in measured_runtimes:
        lines += ["TFLite runs in the `ai_edge_litert` interpreter with one thread per logical CPU. lm_convnet's",
                  "FLOPs count the dense 49x49 convolution its frozen bank stands for (it filters with DFT matrix",
                  "products and learns no kernel there), so its GFLOP/s are a dense equivalent, not work done.", ""]
    else:
        lines += [f"SavedModel and TFLite need TensorFlow; this run, on Keras' {backend} backend, timed the Keras",
                  "model alone.", ""]
    if results.get("accelerator"):
        lines += ["On a GPU the probe multiplies 8192x8192 matrices. XLA may multiply float32 in TF32 on the",
                  "tensor cores (JAX's default precision there), the probe and the models alike; a float32 rate",
                  "above the GPU's plain float32 peak says it did. Models this small, at these batch sizes, are",
                  "bound by the host's step loop rather than the GPU, hence their small fractions of its peak.", ""]
    lines += [
        "## Training",
        "",
        "| model | params | FLOPs/image | precision | images/s | GFLOP/s | of peak | baseline | its images/s | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["models"].items():
        z, b = r["zoo"], r["baseline"]
        lines.append(
            f"| {name} | {z['params']:,} | {z['flops'] / 1e6:,.1f}M | {z['compute_dtype']} | "
            f"{z['train_images_per_second']:,.0f} | "
            f"{z['train_gflops']:,.1f} | {_percent(z['fraction_of_peak'])} | {b['name']} | "
            f"{b['train_images_per_second']:,.0f} | {r['ratios']['train_images_per_second']:.2f}x |"
        )
    probed = {name: r["zoo"] for name, r in results["models"].items() if r["zoo"].get("precision_probe")}
    if probed:
        lines += ["", "`--precision auto` timed these models in each candidate precision (about a second of the",
                  "recipe's training steps, best of 2, before the timed rounds above, or cached from an earlier",
                  f"probe on this machine) and kept 16 bits only where at least {PROBE_MARGIN:.2f}x faster than float32:",
                  "", "| model | probe, images/s | chosen |", "| --- | --- | --- |"]
        for name, z in probed.items():
            rates = ", ".join(f"{rate:,.0f} {dtype}" for dtype, rate in z["precision_probe"].items())
            lines.append(f"| {name} | {rates} | {z['compute_dtype']} |")
    lines += ["", "## Inference latency (ms) and file sizes", "",
              "| model | runtime | batch 1 | batch 64 | size | baseline batch 1 | baseline batch 64 |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results["models"].items():
        for runtime in measured_runtimes:
            z, b = r["zoo"]["inference"][runtime], r["baseline"]["inference"][runtime]
            lines.append(
                f"| {name} | {runtime} | {z['batch1_ms']:.3f} | {z['batch64_ms']:.2f} | {z['bytes'] / 1e6:.2f} MB | "
                f"{b['batch1_ms']:.3f} | {b['batch64_ms']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _percent(fraction: float) -> str:
    return "<1%" if 0 < fraction < 0.005 else f"{fraction:.0%}"


def record(results: dict, results_path: Path = RESULTS_PATH, page: Path | None = None) -> Path:
    """Merges the figures into `zoo/results.json` and writes the Markdown page.

    Each model's `"bench"` holds one record per kind of machine
    (`results["machine_key"]`, see `zoo.precision.Device.key`): a run on
    another kind is recorded beside the others, never over them, and gets
    its own page, `docs/benchmarks/bench-KEY.md`. Returns the page.
    """
    from zoo.callbacks import atomic_write

    key = results["machine_key"]
    page = page or bench_page(key)

    def update(stored):
        for name, result in results["models"].items():
            stored.setdefault("models", {}).setdefault(name, {}).setdefault("bench", {})[key] = {
                **result, **{k: results[k] for k in RUN_KEYS if k in results}
            }

    update_results(update, results_path)
    page.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(recorded(key, results_path, latest=results))
    atomic_write(str(page), lambda f: f.write(text))
    return page


def recorded(key: str, results_path: Path = RESULTS_PATH, *, latest: dict | None = None) -> dict:
    """Every model's figures recorded for one kind of machine, as one results
    dict for `markdown`: a run of some models adds to its page, keeping the
    rows of the others, each with the run it came from.

    Args:
        key: The kind of machine (`zoo.precision.Device.key`).
        results_path: The results file.
        latest: The run just recorded, whose machine and backend head the page.
    """
    stored = json.loads(Path(results_path).read_text())
    models = {name: entry["bench"][key] for name, entry in stored.get("models", {}).items()
              if key in entry.get("bench", {})}
    head = latest or next(iter(models.values()))
    return {**{k: head[k] for k in RUN_KEYS if k in head}, "models": models}
