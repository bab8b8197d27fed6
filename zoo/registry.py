"""The model registry: one dict of factories and a decorator that fills it.

Model facts come from code (parameters and FLOPs of the default build) or
from `zoo/results.json`, which benchmarks write; nothing is typed by hand.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path

import keras

_MODELS: dict[str, Callable[..., keras.Model]] = {}
_PRETRAINED: dict[str, tuple[str, ...]] = {}

# Written by the benchmark recipes; the source of model_info()["measured"].
RESULTS_PATH = Path(__file__).with_name("results.json")


def register_model(fn=None, *, pretrained: tuple[str, ...] = ()):
    """Registers a model factory under its function name.

    Args:
        fn: The factory, a function taking keyword-only arguments and
            returning a `keras.Model`.
        pretrained: Names of the weight sets the factory can load, such as
            `("imagenet",)`. Defaults to none.

    Returns:
        The factory, unchanged.

    Raises:
        ValueError: If a model of that name is already registered.
    """

    def register(factory):
        name = factory.__name__
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _MODELS[name] = factory
        _PRETRAINED[name] = tuple(pretrained)
        return factory

    return register(fn) if fn is not None else register


def list_models(pattern: str = "*") -> list[str]:
    """Lists the registered model names matching a shell-style pattern.

    Args:
        pattern: An `fnmatch` pattern. Defaults to `"*"`.

    Returns:
        Sorted model names.

    Example:

    >>> list_models("*convnet")
    ['edge_convnet', 'lm_convnet', 'mnist_convnet']
    """
    if not isinstance(pattern, str):
        raise ValueError(f"`pattern` must be a string. Received: pattern={pattern!r}")
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def get_model_factory(name: str) -> Callable[..., keras.Model]:
    """Returns the factory registered as `name`.

    Raises:
        ValueError: If no model has that name; the message lists close matches.
    """
    models = _MODELS
    if isinstance(name, str) and name in models:
        return models[name]
    close = difflib.get_close_matches(str(name), list(models), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown model.{hint} Available: {', '.join(sorted(models))}. "
        f"Received: name={name!r}"
    )


def create_model(name: str, /, **kwargs) -> keras.Model:
    """Builds a registered model by name.

    Args:
        name: A name from `list_models()` (positional, so `**kwargs` may
            hold the factory's own `name`).
        **kwargs: Keyword arguments for the model's factory.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        ValueError: For an unknown name or an invalid argument.

    Example:

    >>> model = create_model("mnist_convnet", classes=5)
    >>> model.output_shape
    (None, 5)
    """
    factory = get_model_factory(name)
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"{name}() got unexpected arguments {unknown}; it accepts "
            f"{sorted(accepted)}. Received: {', '.join(f'{k}={kwargs[k]!r}' for k in unknown)}"
        )
    return factory(**kwargs)


def update_results(update: Callable[[dict], None], path: Path = RESULTS_PATH) -> None:
    """Reads the results file, lets `update` change it in place, and writes
    it back atomically, keeping every figure `update` leaves alone."""
    from zoo.callbacks import atomic_write

    stored = json.loads(path.read_text()) if path.exists() else {}
    update(stored)
    atomic_write(str(path), lambda f: f.write(json.dumps(stored, indent=2) + "\n"))


def machine_key() -> str:
    """The kind of machine this process runs on, as figures are recorded
    (`zoo.precision.Device.key`: `cpu-avx512-bf16`, `cpu-avx2`, `gpu-...`)."""
    from zoo.precision import current_device

    return current_device().key


def by_machine(section: dict | None, prefer: str | None = None) -> list[tuple[str, dict]]:
    """The records of a results section, one per kind of machine, `prefer`'s first.

    Every benchmark records its figures under the kind of machine they were
    measured on (see `machine_key`), beside those of other kinds.

    Example:

    >>> by_machine({"cpu-avx2": {"a": 1}, "cpu-avx512-bf16": {"a": 2}}, prefer="cpu-avx2")
    [('cpu-avx2', {'a': 1}), ('cpu-avx512-bf16', {'a': 2})]
    """
    items = sorted((section or {}).items())
    return sorted(items, key=lambda item: item[0] != prefer)


def measured_results(name: str) -> dict:
    """The figures benchmarks recorded for `name` in `zoo/results.json`: for
    each benchmark (`accuracy`, `training`, `export`, `bench`), the figures of
    each kind of machine it ran on, `{machine_key: ...}`."""
    if not RESULTS_PATH.exists():
        return {}
    try:
        results = json.loads(RESULTS_PATH.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"Could not read the results file {str(RESULTS_PATH)!r}: {e}") from None
    return results.get("models", {}).get(name, {})


@functools.cache
def _static_info(name: str) -> dict:
    from zoo.flops import count_flops

    factory = get_model_factory(name)
    model = factory()
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    return {
        "name": name,
        "summary": (inspect.getdoc(factory) or "").split("\n")[0],
        "input_shape": tuple(model.input_shape[1:]),
        "classes": model.output_shape[-1],
        "params": model.count_params(),
        "trainable_params": trainable,
        "flops": count_flops(model),
        "pretrained": list(_PRETRAINED[name]),
    }


def model_info(name: str) -> dict:
    """Describes a registered model in its default configuration.

    Args:
        name: A name from `list_models()`.

    Returns:
        A dict with `name`, `summary`, `input_shape`, `classes`, `params`,
        `trainable_params`, `flops` (per image, 2 per multiply-add),
        `pretrained` (weight sets it can load) and `measured` (figures that
        a benchmark recorded, empty when none has run).

    Example:

    >>> info = model_info("mnist_convnet")
    >>> info["params"], info["input_shape"]
    (93322, (28, 28, 1))
    """
    info = dict(_static_info(name))
    info["measured"] = measured_results(name)
    return info
