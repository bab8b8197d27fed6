"""The model registry: one dict of factories and a decorator that fills it.

Model facts come from code (parameters and FLOPs of the default build) or
from `zoo/results.json`, which benchmarks write; nothing is typed by hand.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path

import keras

from zoo._common import did_you_mean, one_line

_MODELS: dict[str, Callable[..., keras.Model]] = {}

# Written by the benchmark recipes; the source of model_info()["measured"].
RESULTS_PATH = Path(__file__).with_name("results.json")


def register_model(fn: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    """Registers a model factory under its function name.

    Its weight sets are the records in `zoo/weights/` (`zoo.weights.tags`).

    Args:
        fn: The factory, a function taking keyword-only arguments and
            returning a `keras.Model`.

    Returns:
        The factory, unchanged.

    Raises:
        ValueError: If a model of that name is already registered.
    """
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"A model named {name!r} is already registered. Received: {fn!r}")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """Lists the registered model names matching a shell-style pattern.

    Args:
        pattern: An `fnmatch` pattern. Defaults to `"*"`.
        pretrained: Whether to list only models with weight sets (trained
            weights shipped with the zoo, or downloadable as VGG's
            `"imagenet"`). Defaults to False.

    Returns:
        Sorted model names.

    Examples:

        >>> list_models("*convnet")
        ['edge_convnet', 'lm_convnet', 'mnist_convnet']
        >>> list_models("vgg*", pretrained=True)
        ['vgg16', 'vgg19']
    """
    from zoo.weights import tags

    if not isinstance(pattern, str):
        raise ValueError(f"`pattern` must be a string. Received: pattern={pattern!r}")
    if not isinstance(pretrained, bool):
        raise ValueError(f"`pretrained` must be True or False. Received: pretrained={pretrained!r}")
    names = sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))
    return [n for n in names if tags(n)] if pretrained else names


def get_model_factory(name: str) -> Callable[..., keras.Model]:
    """Returns the factory registered as `name`.

    Raises:
        ValueError: If no model has that name; the message lists close matches.
    """
    models = _MODELS
    if isinstance(name, str) and name in models:
        return models[name]
    hint = did_you_mean(name, models)
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

    Examples:

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
    (`zoo.precision.Device.key`: `cpu-avx512-bf16-zen-5`, `cpu-avx2-zen-3`,
    `cpu-amx-bf16-sapphire-rapids`, `gpu-...`)."""
    from zoo.precision import current_device

    return current_device().key


def by_machine(section: dict | None, prefer: str | None = None) -> list[tuple[str, dict]]:
    """The records of a results section, one per kind of machine, `prefer`'s first.

    Every benchmark records its figures under the kind of machine they were
    measured on (see `machine_key`), beside those of other kinds.

    Examples:

        >>> by_machine({"cpu-avx2": {"a": 1}, "cpu-avx512-bf16": {"a": 2}}, prefer="cpu-avx2")
        [('cpu-avx2', {'a': 1}), ('cpu-avx512-bf16', {'a': 2})]
    """
    items = sorted((section or {}).items())
    return sorted(items, key=lambda item: item[0] != prefer)


def runs_spread(runs: list[float]) -> str:
    """How a mean of several runs' top-1 says its runs, as every page writes it.

    Examples:

        >>> runs_spread([0.9884, 0.9922, 0.9904])
        'mean of 3 runs: 98.84% to 99.22%'
    """
    return f"mean of {len(runs)} runs: {min(runs):.2%} to {max(runs):.2%}"


def measured_results(name: str) -> dict:
    """The figures benchmarks recorded for `name` in `zoo/results.json`: for
    each benchmark (`accuracy`, `training`, `export`, `bench`), the figures of
    each kind of machine it ran on, `{machine_key: ...}`."""
    if not RESULTS_PATH.exists():
        return {}
    try:
        results = json.loads(RESULTS_PATH.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"Could not read the results file {str(RESULTS_PATH)!r}: {one_line(e, 200)}") from None
    return results.get("models", {}).get(name, {})


def _built_without_weights(factory: Callable[..., keras.Model]) -> keras.Model:
    """The factory's default model, its variables never initialized.

    Its shapes, parameters and FLOPs are the model's, without drawing its
    weights: the nine registered models built in 0.8 s rather than 3.2 s
    on TensorFlow and in 0.5 s rather than 21 s to 23 s on JAX, which
    compiles each initializer, on a 2-core Intel Xeon (Emerald Rapids);
    vgg16's 138 million weights alone take 550 MB. Keras
    defers the initializers of variables created in a `StatelessScope`,
    and keeps those variables in a list it initializes when a later scope
    ends; they are taken off it again, since the model is thrown away. A
    factory that needs its weights' values (one that calls its model) is
    built the ordinary way.
    """
    try:  # Keras' list of variables to initialize later, not public API: any other Keras builds ordinarily
        from keras.src.backend.common import global_state

        pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    except (ImportError, AttributeError):
        return factory()
    try:
        with keras.StatelessScope(initialize_variables=False):
            return factory()
    except Exception:
        pass
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)
    return factory()


@functools.cache
def _static_info(name: str) -> dict:
    from zoo.features import feature_info, has_stages
    from zoo.flops import count_flops
    from zoo.weights import tags, weights_info

    factory = get_model_factory(name)
    model = _built_without_weights(factory)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {
        "name": name,
        "summary": (inspect.getdoc(factory) or "").split("\n")[0],
        "input_shape": tuple(model.input_shape[1:]),
        "classes": model.output_shape[-1],
        "params": model.count_params(),
        "trainable_params": trainable,
        "flops": count_flops(model),
        "pretrained": list(tags(name)),
        "weights": weights_info(name),
        # The classifier's stage ends are the feature model's layers, at the default input.
        "feature_info": feature_info(model) if has_stages(model) else [],
    }


def model_info(name: str) -> dict:
    """Describes a registered model in its default configuration.

    Args:
        name: A name from `list_models()`.

    Returns:
        A dict with `name`, `summary`, `input_shape`, `classes`, `params`,
        `trainable_params`, `flops` (per image and view, 2 per multiply-add; see `zoo.count_flops`),
        `pretrained` (the tags of its weight sets), `weights` (each set's
        record, `{tag: {...}}`: class names, input shape, preprocessing,
        measured accuracy with its test records and machine, the command
        that trained it, sha256 and size), `feature_info` (per stage of
        `features_only`: `index`, `layer`, `channels` and `reduction`, the
        cumulative stride of the stage's map, as timm's; empty for a
        registered model of none of the zoo's families) and `measured`
        (figures that a benchmark recorded, empty when none has run).

    Examples:

        >>> info = model_info("mnist_convnet")
        >>> info["params"], info["input_shape"]
        (93322, (28, 28, 1))
        >>> [(f["layer"], f["channels"]) for f in info["feature_info"]]
        [('conv1', 32), ('conv2', 64), ('conv3', 64)]
    """
    info = copy.deepcopy(_static_info(name))
    info["measured"] = measured_results(name)
    return info
