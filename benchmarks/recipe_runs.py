"""Repeated runs of a recipe: how far one run's top-1 is from the next.

Trains a model several times by its `zoo train` recipe (or the recipe with
some fields changed) on the real data subsets, in this process, and prints
each run's test top-1 and training time, then their mean and range, with the
machine. One run on CIFAR-10's 423 test images says little; the recipe
choices in `zoo/training.py` quote means from this script.

    python benchmarks/recipe_runs.py cifar10_net --runs 4
    python benchmarks/recipe_runs.py cifar10_net --runs 4 --set weight_decay=5e-4
    python benchmarks/recipe_runs.py mnist_convnet --runs 3 --set epochs=3
    python benchmarks/recipe_runs.py cifar10_net --runs 4 --views
    python benchmarks/recipe_runs.py mnist_convnet --runs 8 --seed 1 --set ema=0.99
    python benchmarks/recipe_runs.py resnet9 --runs 8 --seed 1 --batchnorm

`--seed S` seeds run i with S + i - 1 and makes it deterministic (see
`zoo.training.train`): two recipes run with the same `--seed` start from
the same weights and see the same batches. A change that leaves training
alone (BatchNorm's momentum, which only sets the moving averages) then
pairs seed by seed; one that changes training soon parts the two runs
(cifar10_net's top-1 correlated at about -0.1 over 12 seeds), so compare
those by their means and standard errors.

With a held-out part of the training images (`--set validation_split=0.15`)
each run also reports its last epoch's top-1 on them: compare recipe changes
there, and keep the test images for the change chosen.

`--views` also scores each trained model under every test-time augmentation
(`test_time_augmentation`: None, "flip", "translate", "flip_translate"), in
float32 as the run saved and scored it: the same weights each time, so the
differences are paired
and free of the run-to-run spread. The changes are from the views the trained
model uses (the recipe's `model_kwargs`, else the factory's default).

`--batchnorm` trains with the BatchNorm statistics the training keeps (the
moving averages of its last augmented batches: `recompute_batchnorm=False`,
so each run's top-1 is theirs), then scores the same weights again with the
statistics recomputed over the plain training images
(`zoo.training.update_batchnorm_statistics`), as `recompute_batchnorm=True`
saves them: a paired comparison, whatever the recipe ships.

`--keep DIR` keeps each run's folder as `DIR/run-I`, for other views of the
same weights (`benchmarks/view_sets.py DIR/*/model.keras`).
"""

import argparse
import ast
import contextlib
import csv
import dataclasses
import inspect
import os
import statistics
import tempfile

import keras

from zoo import bench, training
from zoo import data as zoo_data
from zoo.layers import TEST_TIME_AUGMENTATIONS
from zoo.registry import create_model, get_model_factory


def parse_setting(text):
    """`field=value` for a `zoo.training.Recipe` field; the value a Python literal."""
    field, _, value = text.partition("=")
    names = {f.name for f in dataclasses.fields(training.Recipe)}
    if field not in names or not value:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE with FIELD one of {sorted(names)}. Received: {text!r}")
    try:
        return field, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return field, value


def view_accuracies(name, recipe, model_path, data):
    """Top-1 on `data.test` of the weights in `model_path`, rebuilt under
    each test-time augmentation in float32, as the run saved and scored
    them: `{mode: accuracy}`."""
    weights = keras.saving.load_model(model_path).get_weights()
    test = zoo_data.one_hot(data.test, data.num_classes)
    scores = {}
    for mode in (None, *TEST_TIME_AUGMENTATIONS):
        model = create_model(name, **{**recipe.model_kwargs, "input_shape": data.image_shape,
                                      "classes": data.num_classes, "test_time_augmentation": mode})
        model.set_weights(weights)
        # Compiled as the run evaluates, so the default views score what the run reported.
        training._compile_evaluation(model, recipe)
        scores[mode] = float(model.evaluate(test, verbose=0, return_dict=True)["accuracy"])
    return scores


def batchnorm_accuracies(recipe, model_path, data):
    """Top-1 on `data.test` of the model in `model_path`, with the BatchNorm
    statistics it was saved with, then recomputed over `data.plain_train`:
    `(kept, recomputed)`."""
    model = keras.saving.load_model(model_path)
    training._compile_evaluation(model, recipe)  # as the run scored it
    test = zoo_data.one_hot(data.test, data.num_classes)
    kept = float(model.evaluate(test, verbose=0, return_dict=True)["accuracy"])
    training.update_batchnorm_statistics(model, data.plain_train)
    return kept, float(model.evaluate(test, verbose=0, return_dict=True)["accuracy"])


def _views_parameter(name):
    """The model factory's `test_time_augmentation` parameter, or None."""
    return inspect.signature(get_model_factory(name)).parameters.get("test_time_augmentation")


def _has_batchnorm(name, recipe):
    """Whether the recipe's model has BatchNorm layers that training moves."""
    return bool(training._trainable_batchnorm_layers(create_model(name, **recipe.model_kwargs)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(training.RECIPES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="FIELD=VALUE",
                        help="change a recipe field, e.g. weight_decay=1e-3")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--dataset", default=None, help="instead of the recipe's, e.g. cifar10:sample")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed run i with SEED + i - 1 (deterministic): runs repeat, and recipe changes "
                             "that leave training alone (BatchNorm momentum, say) pair seed by seed")
    parser.add_argument("--views", action="store_true",
                        help="also score each model under each test-time augmentation (mnist_convnet, cifar10_net, resnet9)")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="keep each run's output folder as DIR/run-I (its model.keras, summary.json, ...), "
                             "e.g. for benchmarks/view_sets.py")
    parser.add_argument("--batchnorm", action="store_true",
                        help="train keeping the BatchNorm moving averages, then also score each model with them "
                             "recomputed over the plain training images (paired)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1. Received: --runs={args.runs}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be at least 0. Received: --seed={args.seed}")
    views_parameter = _views_parameter(args.model)
    if args.views and views_parameter is None:
        with_views = ", ".join(name for name in sorted(training.RECIPES) if _views_parameter(name))
        parser.error(f"--views needs a model with test-time augmentation ({with_views}). "
                     f"Received: model={args.model!r}")
    settings = dict(args.set)
    if args.batchnorm:  # the runs keep their statistics; each is then scored recomputed too
        if settings.get("recompute_batchnorm"):
            parser.error("--batchnorm trains keeping the BatchNorm statistics and scores them recomputed too: "
                         "drop --set recompute_batchnorm=True. Received: --batchnorm --set recompute_batchnorm=True")
        settings["recompute_batchnorm"] = False
    try:  # the recipe checks its fields: epochs=0 or validation_split=2 is one line, as a bad flag
        recipe = dataclasses.replace(training.get_recipe(args.model), **settings)
    except ValueError as error:
        parser.error(f"--set: {error}")
    if args.batchnorm and not _has_batchnorm(args.model, recipe):
        with_batchnorm = ", ".join(name for name in sorted(training.RECIPES)
                                   if _has_batchnorm(name, training.get_recipe(name)))
        parser.error(f"--batchnorm needs a model with BatchNorm layers ({with_batchnorm}). "
                     f"Received: model={args.model!r}")
    if args.views:  # the views the trained model itself uses: the recipe's, else the factory's
        view_default = recipe.model_kwargs.get("test_time_augmentation", views_parameter.default)
    data_dir = None if args.dataset and args.dataset.endswith(":sample") else args.data_dir
    training.RECIPES[args.model] = recipe
    print(f"{args.model} on {bench.machine()}, recipe {settings or 'as shipped'}", flush=True)
    accuracies, validations, views, recomputed, test, plain = [], [], [], [], None, None
    try:  # an unknown dataset, a missing --data-dir: one line, not a traceback
        if args.views:
            test = zoo_data.load_dataset(args.dataset or recipe.dataset, data_dir, batch_size=256,
                                         validation_split=0.0)
        if args.batchnorm:  # the run's own training records, in its batches
            plain = zoo_data.load_dataset(args.dataset or recipe.dataset, data_dir, batch_size=recipe.batch_size,
                                          validation_split=recipe.validation_split)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    for i in range(1, args.runs + 1):
        with contextlib.nullcontext(os.path.join(args.keep, f"run-{i}")) if args.keep else \
                tempfile.TemporaryDirectory() as out:
            seed = None if args.seed is None else args.seed + i - 1
            try:
                s = training.train(args.model, dataset=args.dataset, data_dir=data_dir, out=out, verbose=0, seed=seed)
            except (ValueError, OSError) as error:  # an unknown dataset, a missing --data-dir: one line, not a traceback
                parser.error(str(error))
            if args.views:
                views.append(view_accuracies(args.model, recipe, f"{out}/model.keras", test))
            if args.batchnorm:
                kept, again = batchnorm_accuracies(recipe, f"{out}/model.keras", plain)
                recomputed.append(again)
            validation = last_validation_accuracy(f"{out}/history.csv")
        accuracies.append(s["test_accuracy"])
        seeded = "" if seed is None else f", seed {seed}"
        line = (f"run {i}: top-1 {s['test_accuracy']:.2%} on {s['records']['test']:,} test images, "
                f"{s['train_seconds']:.0f} s training ({s['precision']}{seeded})")
        if validation is not None:
            validations.append(validation)
            line += f"; validation top-1 {validation:.2%} on {s['records']['validation']:,} held-out images"
        if args.batchnorm:
            line += f"; BatchNorm statistics kept: {kept:.2%}, recomputed: {again:.2%}"
        if views:
            line += "; by test-time augmentation: " + ", ".join(f"{m}: {a:.2%}" for m, a in views[-1].items())
        print(line, flush=True)
    print(f"mean top-1 {_spread(accuracies)}")
    if validations:
        print(f"mean validation top-1 {_spread(validations)}")
    if views:
        _print_views(views, view_default)
    if recomputed:
        gains = [b - a for a, b in zip(accuracies, recomputed)]
        change = round(100 * statistics.mean(gains), 2) + 0.0  # + 0.0: no "-0.00"
        se = f", standard error {100 * statistics.stdev(gains) / len(gains) ** 0.5:.2f}" if len(gains) > 1 else ""
        print(f"BatchNorm statistics recomputed: mean top-1 {_spread(recomputed)}; paired change from the kept: "
              f"{change:+.2f} points{se} (better in {sum(g > 0 for g in gains)}, "
              f"worse in {sum(g < 0 for g in gains)} of {len(gains)})")


def last_validation_accuracy(history_path):
    """The last epoch's `val_accuracy` in a run's history.csv; None where the
    run held no images out."""
    with open(history_path, newline="") as f:
        rows = list(csv.DictReader(f))
    value = rows[-1].get("val_accuracy") if rows else None
    return None if value in (None, "") else float(value)


def _print_views(views, default):
    """Each test-time augmentation's mean top-1, and its paired change from
    `default`, the views of the trained model (the recipe's, else the factory's)."""
    for mode in views[0]:
        line = f"test-time augmentation {mode}: mean top-1 {_spread([v[mode] for v in views])}"
        if mode != default:
            gains = [v[mode] - v[default] for v in views]
            better = sum(g > 0 for g in gains)
            line += (f"; paired change from the default ({default}): {statistics.mean(gains):+.2%} "
                     f"({min(gains):+.2%} to {max(gains):+.2%}, better in {better} of {len(gains)})")
        print(line)


def _spread(values):
    """The mean of runs' top-1, their range, one run's standard deviation and
    the mean's standard error, in points: how far the next mean may land.

    Examples:

        >>> _spread([0.78, 0.80, 0.76, 0.78])
        '78.00% over 4 runs, range 76.00% to 80.00%, sd 1.63 points, standard error of the mean 0.82'
        >>> _spread([0.99])
        '99.00% over 1 run'
    """
    if len(values) < 2:
        return f"{statistics.mean(values):.2%} over 1 run"
    sd = 100 * statistics.stdev(values)
    return (f"{statistics.mean(values):.2%} over {len(values)} runs, range {min(values):.2%} to {max(values):.2%}, "
            f"sd {sd:.2f} points, standard error of the mean {sd / len(values) ** 0.5:.2f}")


if __name__ == "__main__":
    main()
