"""Hyperparameter search: `zoo.hypermodel` and `zoo tune`.

`SEARCH_SPACES` holds each model's search space, one dict per model: its
factory's arguments and its recipe's training settings, each defaulting to
the factory's or the recipe's value. `hypermodel(name)` makes it a
`keras_tuner.HyperModel`; for the models with ImageNet weights (vgg16,
vgg19, resnet50, mobilenet_v2) it searches the two-phase
fine-tuning of `zoo.training.finetune`. `tune` searches on the data of
`zoo train` plus a validation split, runs the recipe first, resumes, and
shares a search between processes (keras-tuner's chief/worker mode, see
`zoo.distribution`).

Examples:

    >>> import keras_tuner as kt
    >>> from zoo import hypermodel
    >>> hypermodel("mnist_convnet").build(kt.HyperParameters()).count_params()
    93322
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import time
import warnings
from pathlib import Path

import keras
import keras_tuner as kt

from zoo import data as zoo_data
from zoo import distribution, figures, training
from zoo._common import check_choice, last_line, one_line
from zoo.callbacks import _write_csv, atomic_write, check_resumable, save_model_atomic
from zoo.precision import PRECISIONS, choose_precision
from zoo.registry import create_model, get_model_factory, model_info

TUNERS = ("random", "hyperband", "bayesian")
OBJECTIVE = "val_accuracy"
VALIDATION_SPLIT = 0.1  # held out where a training recipe holds out nothing
PROJECT = "tuner"
# Where a search records its settings (the precision among them) to resume.
SEARCH_FILE = "search.json"


def _choice(*values):
    return {"kind": "choice", "values": list(values)}


def _float(low, high, *, step=None, log=False):
    return {"kind": "float", "min": low, "max": high, "step": step, "log": log}


def _boolean():
    return {"kind": "boolean", "values": [False, True]}


# Sequences are choices of strings: "32-64-64" is filters=(32, 64, 64).
_DIGITS_HEAD = {"dense_units": _choice(32, 64, 128), "dropout": _float(0.0, 0.5, step=0.1)}
_DIGITS_TRAINING = {
    "lr": _float(1e-3, 3e-2, log=True),
    "label_smoothing": _float(0.0, 0.2, step=0.05),
    "weight_decay": _float(1e-5, 1e-3, log=True),
    "batch_size": _choice(64, 128, 256),
}
# Phase 1's and phase 2's peak learning rates, and the blocks phase 2 trains.
_FINETUNING = {
    "lr": _float(1e-4, 1e-2, log=True), "fine_lr": _float(1e-5, 1e-3, log=True), "unfreeze": _choice(0, 1, 2, 3)
}
SEARCH_SPACES = {
    "mnist_convnet": {
        "filters": _choice("16-32-32", "32-64-64", "64-128-128"),
        **_DIGITS_HEAD,
        "batch_norm": _boolean(),
        **_DIGITS_TRAINING,
    },
    "edge_convnet": {
        "operator": _choice("sobel", "prewitt", "scharr"),
        "filters": _choice("32-32", "64-64", "64-128"),
        **_DIGITS_HEAD,
        **_DIGITS_TRAINING,
    },
    "lm_convnet": {"filters": _choice("32-32", "64-64", "64-128"), **_DIGITS_HEAD, **_DIGITS_TRAINING},
    "cifar10_net": {
        "stem_filters": _choice(16, 24, 32),
        "filters": _choice("16-32-64", "32-64-128", "48-96-192"),
        "convs_per_stage": _choice(1, 2, 3),
        "dropout": _float(0.0, 0.3, step=0.1),
        "l2": _choice(0.0, 1e-5, 1e-4),
        "logit_scale": _choice(0.0625, 0.125, 0.25),
        "lr": _float(0.05, 0.8, log=True),
        "label_smoothing": _float(0.0, 0.3, step=0.1),
        "weight_decay": _float(1e-4, 2e-3, log=True),
        "batch_size": _choice(128, 256, 512),
    },
    "resnet9": {
        # At most 24 prep filters: the whitening bank of 2x2x3 patches has 2 * 12.
        "stem_filters": _choice(16, 24),
        "filters": _choice("32-64-128", "48-96-192", "64-128-256"),
        "logit_scale": _choice(0.0625, 0.125, 0.25),
        "lr": _float(0.05, 0.8, log=True),
        "label_smoothing": _float(0.0, 0.3, step=0.1),
        "weight_decay": _float(1e-4, 2e-3, log=True),
        "batch_size": _choice(128, 256, 512),
    },
    "vgg16": _FINETUNING,
    "vgg19": _FINETUNING,
    "resnet50": _FINETUNING,
    "mobilenet_v2": _FINETUNING,
}
_RECIPE_FIELDS = {f.name for f in dataclasses.fields(training.Recipe)}


def _factory_default(name: str, hp_name: str):
    if name in training.FINETUNE_RECIPES:
        recipe, phase2 = training.FINETUNE_RECIPES[name]
        return phase2[hp_name] if hp_name in phase2 else getattr(recipe, hp_name)
    recipe = training.RECIPES[name]
    if hp_name in _RECIPE_FIELDS:
        return getattr(recipe, hp_name)
    return recipe.model_kwargs.get(hp_name, inspect.signature(get_model_factory(name)).parameters[hp_name].default)


def default_value(name: str, hp_name: str):
    """A hyperparameter's default: its value in the model's recipe or factory."""
    value = _factory_default(name, hp_name)
    return "-".join(map(str, value)) if isinstance(value, (tuple, list)) else value


def _declare(hp: kt.HyperParameters, name: str, hp_name: str):
    """Declares one hyperparameter of the table in `hp`; returns its value."""
    spec, default = SEARCH_SPACES[name][hp_name], default_value(name, hp_name)
    if spec["kind"] == "choice":
        value = hp.Choice(hp_name, spec["values"], default=default)
    elif spec["kind"] == "boolean":
        value = hp.Boolean(hp_name, default=default)
    else:
        sampling = "log" if spec["log"] else "linear"
        value = hp.Float(hp_name, spec["min"], spec["max"], step=spec["step"], sampling=sampling, default=default)
    if isinstance(_factory_default(name, hp_name), (tuple, list)):
        value = tuple(int(v) for v in value.split("-"))
    return value


def search_space_markdown() -> str:
    """The search spaces as the Markdown table of docs/tuning.md."""
    lines = ["| model | hyperparameter | searched | default |", "| --- | --- | --- | --- |"]
    for name, space in SEARCH_SPACES.items():
        for hp_name, spec in space.items():
            if "values" in spec:
                searched = ", ".join(map(str, spec["values"]))
            else:
                step = f", step {spec['step']:g}" if spec.get("step") else ""
                searched = f"{spec['min']:g} to {spec['max']:g}" + (", log" if spec.get("log") else step)
            lines.append(f"| {name} | `{hp_name}` | {searched} | {default_value(name, hp_name)} |")
    return "\n".join(lines) + "\n"


def _batches(dataset, batch_size: int | None = None):
    """A training pipeline in batches of `batch_size` (None: as it is) and its
    batches per epoch."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            "Zoo hypermodels train on tf.data pipelines of (images, integer labels), as "
            f"zoo.data.load_dataset returns. Received: x of type {type(dataset).__name__}"
        )
    steps, size = int(dataset.cardinality()), dataset.element_spec[0].shape[0]
    if batch_size in (None, size) and steps >= 0:
        return dataset, steps
    if steps < 0 or size is None:
        raise ValueError("The training pipeline must hold full batches and know its length.")
    steps = steps * size // batch_size
    if steps < 1:
        raise ValueError(f"`batch_size` exceeds the training images. Received: batch_size={batch_size}")
    dataset = dataset.unbatch().batch(batch_size, drop_remainder=True)
    return dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE), steps


class ZooHyperModel(kt.HyperModel):
    """The search space of a zoo model and its training recipe.

    `build(hp)` returns the model compiled with the recipe's optimizer and
    loss at the trial's learning rate. `fit(hp, model, train, ...)` takes
    batched tf.data pipelines of raw pixels and integer labels, as
    `zoo.data.load_dataset` returns; it trains in the trial's batch size and
    compiles again so that the recipe's warm-up and cosine decay span its steps.
    """

    def __init__(self, name: str, *, input_shape=None, classes: int = 10, precision: str = "auto"):
        super().__init__(name=name)
        self.model_name, self.input_shape, self.classes = name, input_shape, classes
        self.recipe = training.RECIPES.get(name)
        self.asked_precision = check_choice("precision", precision, PRECISIONS)
        self.trials_run = 0

    @functools.cached_property
    def precision(self):
        """The trials' `zoo.precision.Precision`, chosen on first use: `auto`
        times the recipe's training in each candidate precision (once per
        machine, cached) where the device has more than one."""
        if self.asked_precision != "auto" or self.recipe is None:
            return choose_precision(self.asked_precision)
        from zoo import bench

        shape = tuple(self.input_shape) if self.input_shape is not None else \
            tuple(self.recipe.model_kwargs.get("input_shape") or model_info(self.model_name)["input_shape"])
        return bench.choose_model_precision(
            "auto", self.model_name, self.recipe, input_shape=shape, classes=self.classes,
            batch_size=self.recipe.batch_size, model_kwargs=self.recipe.model_kwargs,
        )

    def values(self, hp: kt.HyperParameters) -> dict:
        """Declares the search space in `hp`; returns the trial's values."""
        return {hp_name: _declare(hp, self.model_name, hp_name) for hp_name in SEARCH_SPACES[self.model_name]}

    def _recipe(self, values: dict) -> training.Recipe:
        return dataclasses.replace(self.recipe, **{k: v for k, v in values.items() if k in _RECIPE_FIELDS})

    def architecture(self, hp: kt.HyperParameters) -> keras.Model:
        """The uncompiled model, in the global dtype policy."""
        kwargs = {k: v for k, v in self.values(hp).items() if k not in _RECIPE_FIELDS}
        if self.input_shape is not None:
            kwargs["input_shape"] = tuple(self.input_shape)
        return create_model(self.model_name, **{**self.recipe.model_kwargs, **kwargs, "classes": self.classes})

    def build(self, hp):
        with training._dtype_policy(self.precision.policy):
            model = self.architecture(hp)
        recipe = self._recipe(self.values(hp))
        training._compile_recipe(model, recipe, lr=recipe.lr, total_steps=None)
        return model

    def _fit(self, model, train, validation, recipe, *, lr, total_steps, callbacks, **kwargs):
        training._compile_recipe(model, recipe, lr=lr, total_steps=total_steps)
        return model.fit(
            zoo_data.one_hot(train, self.classes),
            validation_data=None if validation is None else zoo_data.one_hot(validation, self.classes),
            callbacks=[*callbacks, keras.callbacks.TerminateOnNaN()], shuffle=False, **kwargs,
        )

    def fit(self, hp, model, x, *, validation_data=None, epochs=None, initial_epoch=0, callbacks=None, **kwargs):
        values = self.values(hp)
        train, steps = _batches(x, values["batch_size"])
        epochs = self.recipe.epochs if epochs is None else epochs
        recipe = self._recipe(values)
        if recipe.whitening:  # as zoo train does, before the first step
            training.whiten_stem(model, train)
        self.trials_run += 1
        return self._fit(
            model, train, validation_data, recipe, lr=recipe.lr, total_steps=steps * (epochs - initial_epoch),
            callbacks=callbacks or [], epochs=epochs, initial_epoch=initial_epoch, **kwargs,
        )


class FinetuneHyperModel(ZooHyperModel):
    """The two-phase fine-tuning of `zoo.training.finetune` as a search space.

    `build(hp)` puts a new head on the frozen pretrained base. `fit` trains
    the head for `epochs` at `lr` (phase 1), then also the top `unfreeze`
    blocks for `fine_epochs` at `fine_lr` (phase 2), and returns phase 2's
    history; the tuner's callbacks see phase 2 only, so a trial's score and
    saved model are phase 2's.
    """

    def __init__(self, name: str, *, input_shape=None, classes: int = 10, weights="imagenet",
                 precision: str = "auto"):
        super().__init__(name, input_shape=input_shape, classes=classes, precision=precision)
        self.recipe, self.phase2 = training.FINETUNE_RECIPES[name]
        self.weights = weights

    def architecture(self, hp: kt.HyperParameters) -> keras.Model:
        return training._finetune_model(
            self.model_name, weights=self.weights, input_shape=self.input_shape, classes=self.classes
        )

    def build(self, hp):
        with training._dtype_policy(self.precision.policy):
            model = self.architecture(hp)
        training._compile_recipe(model, self.recipe, lr=self.values(hp)["lr"], total_steps=None)
        return model

    def fit(self, hp, model, x, *, validation_data=None, epochs=None, fine_epochs=None, initial_epoch=0,
            callbacks=None, **kwargs):
        if initial_epoch:
            raise ValueError("A two-phase fine-tuning cannot resume mid-way, as Hyperband asks.")
        values = self.values(hp)
        train, steps = _batches(x)
        epochs = self.recipe.epochs if epochs is None else epochs
        fine_epochs = self.phase2["fine_epochs"] if fine_epochs is None else fine_epochs
        training._check_number("fine_epochs", fine_epochs, integer=True, low=1)
        self.trials_run += 1
        for blocks, lr, phase_epochs, phase_callbacks in [
            (0, values["lr"], epochs, []), (values["unfreeze"], values["fine_lr"], fine_epochs, callbacks or [])
        ]:
            training._unfreeze(model, blocks)
            history = self._fit(model, train, validation_data, self.recipe, lr=lr, total_steps=steps * phase_epochs,
                                callbacks=phase_callbacks, epochs=phase_epochs, **kwargs)
        return history


def _check_model(name: str) -> None:
    if name not in SEARCH_SPACES:
        get_model_factory(name)  # unknown names raise with close matches
        raise ValueError(f"No search space for {name!r} in zoo.tuning.SEARCH_SPACES. Received: model={name!r}")


def hypermodel(name: str, *, input_shape: tuple | None = None, classes: int = 10,
               weights: str | None = None, precision: str = "auto") -> kt.HyperModel:
    """Returns the search space of a zoo model as a `keras_tuner.HyperModel`.

    Every hyperparameter of `SEARCH_SPACES[name]` defaults to the recipe's or
    the factory's value; a tuner given `hyperparameters=hp,
    tune_new_entries=False` searches those in `hp` and keeps the others' defaults.

    Args:
        name: A registered model.
        input_shape: `(height, width, channels)`. Defaults to the factory's.
        classes: Number of classes. Defaults to 10.
        weights: For the fine-tuned models (`zoo.training.FINETUNE_RECIPES`),
            `"imagenet"` or a keras.applications weights file. Defaults to
            None (`"imagenet"`).
        precision: The trials' compute precision, see `zoo.precision`.
            Defaults to `"auto"`, chosen for this machine.

    Returns:
        A `ZooHyperModel`; for the fine-tuned models a `FinetuneHyperModel`.

    Raises:
        ValueError: For an unknown model (naming close matches), or weights
            for a model without pretrained weights.

    Examples:

        >>> hp = kt.HyperParameters()
        >>> hp.Float("dropout", 0.0, 0.5, step=0.1)
        0.0
        >>> tuner = kt.RandomSearch(hypermodel("mnist_convnet"), objective="val_accuracy", max_trials=5,
        ...                         hyperparameters=hp, tune_new_entries=False)  # doctest: +SKIP
        >>> tuner.search(data.train, validation_data=data.validation, epochs=2)  # doctest: +SKIP
    """
    _check_model(name)
    if name in training.FINETUNE_RECIPES:
        weights = "imagenet" if weights is None else weights
        return FinetuneHyperModel(name, input_shape=input_shape, classes=classes, weights=weights,
                                   precision=precision)
    if weights is not None:
        raise ValueError(
            f"`weights` is for the fine-tuning of {', '.join(training.FINETUNE_RECIPES)}. Received: weights={weights!r}"
        )
    return ZooHyperModel(name, input_shape=input_shape, classes=classes, precision=precision)


def _recipe_first(oracle_class):
    """`oracle_class`, whose first trial takes every default: the recipe."""

    class RecipeFirst(oracle_class):
        def _random_values(self):  # where all three oracles draw new values
            if self.trials:
                return super()._random_values()
            return {hp.name: hp.default for hp in self.hyperparameters.space}

    RecipeFirst.__name__ = f"RecipeFirst{oracle_class.__name__}"
    return RecipeFirst


class _Hyperband(kt.Hyperband):
    """Hyperband's trials (epoch budgets, resumed weights) on a given oracle."""

    def __init__(self, oracle, **kwargs):
        kt.Tuner.__init__(self, oracle=oracle, **kwargs)  # Hyperband's __init__ only makes an oracle

    def _build_hypermodel(self, hp):
        with warnings.catch_warnings():  # a checkpoint holds its optimizer too; each trial compiles anew
            warnings.simplefilter("ignore", UserWarning)
            return super()._build_hypermodel(hp)


def make_tuner(model: kt.HyperModel, kind: str = "random", *, max_trials: int = 10, epochs: int = 1,
               seed: int | None = None, directory=".", project_name: str = PROJECT) -> kt.Tuner:
    """A tuner maximising `val_accuracy` whose first trial is the recipe.

    `kind` is `"random"`, `"bayesian"` or `"hyperband"` (`epochs` is its
    `max_epochs`). A project already in `directory/project_name` resumes.
    """
    objective = kt.Objective(OBJECTIVE, "max")
    if kind == "hyperband":
        # Brackets over and over until `max_trials`, which every oracle honours (Hyperband's takes no argument).
        oracle = _recipe_first(kt.oracles.HyperbandOracle)(
            objective, max_epochs=epochs, hyperband_iterations=None, seed=seed
        )
        oracle.max_trials = max_trials
        tuner_class = _Hyperband
    else:
        oracle_class = {"random": kt.oracles.RandomSearchOracle, "bayesian": kt.oracles.BayesianOptimizationOracle}
        oracle = _recipe_first(oracle_class[kind])(objective, max_trials=max_trials, seed=seed)
        tuner_class = kt.Tuner
    return tuner_class(oracle, hypermodel=model, directory=str(directory), project_name=project_name, overwrite=False)


def _check_chief_address() -> None:
    """Refuses a keras-tuner chief address that cannot be: a chief would
    listen elsewhere (gRPC wraps port 99999 round) and a worker wait its
    whole --chief-timeout for it."""
    host, port = os.environ["KERASTUNER_ORACLE_IP"].strip(), os.environ["KERASTUNER_ORACLE_PORT"]
    if not host:
        raise ValueError(f"KERASTUNER_ORACLE_IP must name the chief's host. Received: KERASTUNER_ORACLE_IP={host!r}")
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"KERASTUNER_ORACLE_PORT must be a port number from 1 to 65535. "
                         f"Received: KERASTUNER_ORACLE_PORT={port!r}")


def tune(name: str, *, dataset: str | None = None, data_dir=None, tuner: str = "random", max_trials: int = 10,
         epochs: int | None = None, seed: int | None = None, out=None, weights: str | None = None,
         image_size: tuple | None = None, chief_timeout: float = 120.0, precision: str | None = None,
         verbose: int = 1, command: str | None = None) -> dict:
    """Searches a zoo model's hyperparameters and writes the results.

    Writes into `out`: `best.keras` (the best trial's model, float32),
    `best_hyperparameters.json` (the returned summary), `trials.csv`,
    `trials.png`, `search.json` and keras-tuner's project `tuner/`. The same
    call on the same `out` resumes; finished trials are not run again. With
    keras-tuner's chief/worker variables set, the chief serves the search and
    writes the results, and workers run the trials.

    Args:
        name: A model of `SEARCH_SPACES`.
        dataset: A `zoo.data.load_dataset` name. Defaults to the recipe's.
        data_dir: Where the data is.
        tuner: `"random"`, `"hyperband"` or `"bayesian"`. Defaults to `"random"`.
        max_trials: Trials in the whole search. Defaults to 10.
        epochs: Epochs per trial (per phase for the fine-tuned models; Hyperband's
            most). Defaults to the recipe's.
        seed: Seeds the tuner and Keras. Defaults to None.
        out: Output directory. Defaults to `runs/NAME-tune`.
        weights: For the fine-tuned models, `"imagenet"` or a weights file.
            Defaults to None (`"imagenet"`).
        image_size: `(height, width)` to resize the images to. Defaults to
            the model's input size for a folder, the dataset's own otherwise.
        chief_timeout: Seconds a worker waits for the chief. Defaults to 120.
        precision: As for `zoo.training.train`. Defaults to `"auto"`.
        verbose: 1 for the precision chosen, keras-tuner's reports and a
            line per epoch, 0 for none.
        command: The command line recorded in `best_hyperparameters.json`.

    Returns:
        The summary written to `best_hyperparameters.json`; on a worker,
        `{"role": "worker", "trials_run": ...}`.

    Raises:
        ValueError: For bad arguments or data, or when no trial succeeded.
        FileNotFoundError: When the data cannot be found.
        ConnectionError: When a worker finds no chief.
    """
    started = time.perf_counter()
    _check_model(name)
    check_choice("tuner", tuner, TUNERS)
    if not zoo_data.tensorflow_available():
        raise ValueError(
            "zoo tune trains its trials on tf.data pipelines and needs TensorFlow, which is not installed: "
            f"pip install tensorflow (zoo train runs without it on Keras' {keras.backend.backend()} backend)."
        )
    if tuner == "bayesian":
        try:
            import sklearn  # noqa: F401  (keras-tuner's Gaussian process)
        except ImportError:
            raise ValueError(
                "The Bayesian tuner needs scikit-learn and scipy: pip install 'keras-zoo[bayesian]'. "
                f"Received: tuner={tuner!r}"
            ) from None
    training._check_number("max_trials", max_trials, integer=True, low=1)
    training._check_number("chief_timeout", chief_timeout, integer=False, low=0.001)
    finetuning = name in training.FINETUNE_RECIPES
    if finetuning and tuner == "hyperband":
        raise ValueError(
            f"Hyperband resumes trials mid-way, which a two-phase fine-tuning cannot. Received: tuner={tuner!r}"
        )
    role = distribution.tuner_role()
    if role != "local":
        _check_chief_address()
    recipe = training.FINETUNE_RECIPES[name][0] if finetuning else training.get_recipe(name)
    run = training._prepare(
        name, dataclasses.replace(recipe, validation_split=recipe.validation_split or VALIDATION_SPLIT),
        dataset=dataset, data_dir=data_dir, epochs=epochs, batch_size=None, lr=None, seed=seed, strategy=None,
        out=out if out is not None else Path("runs") / f"{name}-tune", image_size=image_size, precision=precision,
        progress=training._printer(verbose), probe=role == "local",
        resume_file=SEARCH_FILE,
    )
    if not run.data.counts["validation"]:
        raise ValueError(f"The search needs validation images; {run.data.source} holds none.")
    model = hypermodel(name, input_shape=run.data.image_shape, classes=run.data.num_classes, weights=weights,
                       precision=run.precision.name)
    model.build(kt.HyperParameters())  # checks weights and shapes before anything is written
    settings = {"model": name, "tuner": tuner, "dataset": run.data.source, "epochs": run.epochs,
                "precision": run.precision.name}
    if role == "worker":
        distribution.wait_for_chief(chief_timeout)
    else:
        check_resumable(run.out / SEARCH_FILE, settings, what="search")
    if verbose:
        print(training.precision_line(run.precision), flush=True)
    project = run.out / PROJECT
    resuming = project.exists()
    try:
        search = make_tuner(model, tuner, max_trials=max_trials, epochs=run.epochs, seed=seed, directory=run.out)
    except Exception as e:  # keras-tuner reloads its files unchecked: JSON, key, type and TensorFlow I/O errors
        if not resuming:
            raise
        raise ValueError(
            f"Cannot resume the search in {str(project)!r}: keras-tuner's files there are unreadable "
            f"({type(e).__name__}: {last_line(str(e))}); delete that folder or use another --out to start "
            f"afresh. Received: out={str(run.out)!r}"
        ) from None
    fit_kwargs = {"validation_data": run.data.validation, "epochs": run.epochs, "verbose": 2 if verbose else 0}
    if finetuning:
        fit_kwargs["fine_epochs"] = run.epochs if epochs is not None else model.phase2["fine_epochs"]
    try:
        if role == "chief":
            search.oracle.verbose = verbose
            search.save()
            distribution.serve_oracle(search.oracle)
        else:
            search.search(run.data.train, **fit_kwargs)
    except RuntimeError as e:  # keras-tuner's end after three failed trials in a row
        if "consecutive failures" not in str(e):
            raise
        raise ValueError(f"The search stopped: 3 trials in a row failed, the last with {last_line(str(e))}") from e
    except Exception as e:
        if type(e).__module__.startswith("grpc"):
            raise ConnectionError(f"Lost the keras-tuner chief at {distribution.chief_address()}: {one_line(e, 200)}") from None
        raise
    if role == "worker":
        return {"role": "worker", "tuner_id": os.environ["KERASTUNER_TUNER_ID"], "trials_run": model.trials_run,
                "out": str(run.out)}
    summary = _write_results(search, model, run, settings)
    summary.update(max_trials=max_trials, seed=seed, backend=keras.backend.backend(),
                   seconds=round(time.perf_counter() - started, 2),
                   command=command or f"zoo.tuning.tune({name!r}, ...)", versions=training._versions(),
                   precision_reason=run.precision.reason, device=run.precision.device.to_json())
    atomic_write(str(run.out / "best_hyperparameters.json"), lambda f: json.dump(summary, f, indent=2))
    return summary


def _write_results(search, model, run, settings) -> dict:
    """Writes best.keras, trials.csv and trials.png; returns the summary."""
    trials = sorted(search.oracle.trials.values(), key=lambda t: int(t.trial_id))
    best = next((t for t in search.oracle.get_best_trials(1) if t.status == "COMPLETED"), None)
    if best is None:
        last = next((last_line(t.message) for t in reversed(trials) if t.message), "none")
        raise ValueError(f"No trial succeeded; the last error: {last}")
    with warnings.catch_warnings():  # a trial's checkpoint holds its optimizer too, not needed here
        warnings.simplefilter("ignore", UserWarning)
        best_model = search.get_best_models(1)[0]
    clean = training._float32(best_model, lambda: model.architecture(best.hyperparameters))
    save_model_atomic(clean, str(run.out / "best.keras"))
    names = list(SEARCH_SPACES[run.name])
    rows = [
        {"trial_id": t.trial_id, **{n: t.hyperparameters.values.get(n) for n in names},
         "score": t.score if t.status == "COMPLETED" else None, "status": t.status}
        for t in trials
    ]
    atomic_write(str(run.out / "trials.csv"), lambda f: _write_csv(f, list(rows[0]), rows))
    _plot_trials(rows, str(run.out / "trials.png"), f"{run.name} on {run.data.source}: {settings['tuner']} search")
    return {
        **settings, "objective": OBJECTIVE, "best_trial": best.trial_id, "best_score": best.score,
        "hyperparameters": {n: best.hyperparameters.values.get(n) for n in names},
        "trials": len(trials), "trials_run": model.trials_run, "records": run.data.counts,
        "classes": run.data.class_names, "out": str(run.out),
        "files": {"model": "best.keras", "trials": "trials.csv", "plot": "trials.png", "tuner": f"{PROJECT}/"},
    }


def _plot_trials(rows: list[dict], path: str, title: str) -> None:
    plt = figures.pyplot()
    done = [(int(r["trial_id"]), r["score"]) for r in rows if r["score"] is not None]
    running = [max(s for _, s in done[: i + 1]) for i in range(len(done))]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot([i for i, _ in done], [s for _, s in done], "o", label="trial")
    ax.step([i for i, _ in done], running, where="post", label="best so far")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="trial id", ylabel=OBJECTIVE, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    figures.save_figure(fig, path)
