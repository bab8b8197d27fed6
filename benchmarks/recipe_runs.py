"""Repeated runs of a recipe: how far one run's top-1 is from the next.

Trains a model several times by its `zoo train` recipe (or the recipe with
some fields changed) on the real data subsets, in this process, and prints
each run's test top-1 and training time, then their mean and range, with the
machine. One run on CIFAR-10's 423 test images says little; the recipe
choices in `zoo/training.py` quote means from this script.

    python benchmarks/recipe_runs.py cifar10_net --runs 4
    python benchmarks/recipe_runs.py cifar10_net --runs 4 --set weight_decay=5e-4
    python benchmarks/recipe_runs.py mnist_convnet --runs 3 --set epochs=3
"""

import argparse
import ast
import dataclasses
import statistics
import tempfile

from zoo import bench, training


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(training.RECIPES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="FIELD=VALUE",
                        help="change a recipe field, e.g. weight_decay=1e-3")
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args()
    recipe = dataclasses.replace(training.get_recipe(args.model), **dict(args.set))
    training.RECIPES[args.model] = recipe
    print(f"{args.model} on {bench.machine()}, recipe {dict(args.set) or 'as shipped'}", flush=True)
    accuracies = []
    for i in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as out:
            s = training.train(args.model, data_dir=args.data_dir, out=out, verbose=0)
        accuracies.append(s["test_accuracy"])
        print(f"run {i}: top-1 {s['test_accuracy']:.2%} on {s['records']['test']:,} test images, "
              f"{s['train_seconds']:.0f} s training ({s['precision']})", flush=True)
    spread = f", range {min(accuracies):.2%} to {max(accuracies):.2%}" if len(accuracies) > 1 else ""
    print(f"mean top-1 {statistics.mean(accuracies):.2%} over {len(accuracies)} runs{spread}")


if __name__ == "__main__":
    main()
