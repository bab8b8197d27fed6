"""Scores trained models under other sets of test-time views, on the same weights.

Each saved model's logits for one image at a time (its `logits` layer, in the
graph `zoo.feature_extractor` re-traces without the model's own views) are computed for every
shift of up to two pixels, borders reflected, and, for a model whose own views
include mirrors, for the mirror of each. Each set of views then averages them
with its weights, as `zoo.layers.ViewMean` does, and is scored against the
model's own set, pair by pair: the same weights, so the runs pair.

    python benchmarks/recipe_runs.py cifar10_net --runs 24 --seed 1 --keep runs/kept
    python benchmarks/view_sets.py runs/kept/*/model.keras --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402

import zoo.features  # noqa: E402
from zoo import data as zoo_data  # noqa: E402
from zoo.layers import TestTimeViews  # noqa: E402

RADIUS = 2  # the largest shift, in pixels
SHIFTS = [(dy, dx) for dy in range(-RADIUS, RADIUS + 1) for dx in range(-RADIUS, RADIUS + 1)]
BATCH = 256  # images per call


def _grid(radius: int, centre: float = 1.0) -> dict:
    return {(dy, dx): centre if (dy, dx) == (0, 0) else 1.0
            for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)}


# Each set: {(down, right) shift: weight}, each shift with its mirror where the
# model's own views have mirrors. `TestTimeViews`' shifts are (1, 1) and (-1, -1).
OWN = {"flip": {(0, 0): 1.0}, "translate": {(0, 0): 1.0, (1, 1): 0.5, (-1, -1): 0.5},
       "flip_translate": {(0, 0): 1.0, (1, 1): 0.5, (-1, -1): 0.5}}
SETS = {
    "the image only": {(0, 0): 1.0},
    "the two diagonal shifts weighted 1": {(0, 0): 1.0, (1, 1): 1.0, (-1, -1): 1.0},
    "the four diagonal shifts, a half each": {(0, 0): 1.0, (1, 1): 0.5, (-1, -1): 0.5, (1, -1): 0.5, (-1, 1): 0.5},
    "the four one-pixel neighbours, a half each": {(0, 0): 1.0, (1, 0): 0.5, (-1, 0): 0.5, (0, 1): 0.5, (0, -1): 0.5},
    "every shift of up to a pixel": _grid(1),
    "every shift of up to a pixel, the image double": _grid(1, centre=2.0),
    "the two diagonal shifts, and two pixels a quarter": {(0, 0): 1.0, (1, 1): 0.5, (-1, -1): 0.5,
                                                          (2, 2): 0.25, (-2, -2): 0.25},
    "every shift of up to two pixels": _grid(2),
}


def shifted(images: np.ndarray, down: int, right: int) -> np.ndarray:
    """`images` moved `down` and `right` pixels, borders reflected.

    Examples:

        >>> x = np.arange(4.0).reshape(1, 1, 4, 1)
        >>> shifted(x, 0, 1)[0, 0, :, 0].tolist()  # what TestTimeViews' shift does
        [1.0, 0.0, 1.0, 2.0]
    """
    h, w = images.shape[1:3]
    padded = np.pad(images, ((0, 0), (RADIUS, RADIUS), (RADIUS, RADIUS), (0, 0)), mode="reflect")
    return padded[:, RADIUS - down:RADIUS - down + h, RADIUS - right:RADIUS - right + w]


def own_mode(model: keras.Model) -> str | None:
    """The mode of the model's `TestTimeViews`, or None for a model without views."""
    return next((layer.mode for layer in model._flatten_layers(include_self=False)
                 if isinstance(layer, TestTimeViews)), None)


def logits_by_view(model: keras.Model, images: np.ndarray, mirror: bool) -> dict:
    """`{(shift, mirrored): logits}` of the model's own network, one image per view."""
    inputs, (logits,) = zoo.features._layer_outputs(model, ["logits"])  # the model's views left out
    network = keras.Model(inputs, logits)
    views = {}
    for shift in SHIFTS:
        moved = shifted(images, *shift)
        for mirrored in (False, True) if mirror else (False,):
            x = moved[:, :, ::-1] if mirrored else moved
            # predict_on_batch, batch by batch: `predict` builds a dataset and its
            # iterator on every call, most of the time on a few hundred images.
            views[shift, mirrored] = np.concatenate([
                np.asarray(network.predict_on_batch(x[i:i + BATCH]), np.float64) for i in range(0, len(x), BATCH)
            ])
    return views


def accuracy(views: dict, weights: dict, labels: np.ndarray, mirror: bool) -> float:
    """Top-1 of the weighted mean of the views' logits."""
    total = sum(w * views[s, m] for s, w in weights.items() for m in ((False, True) if mirror else (False,)))
    return float((total.argmax(-1) == labels).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="saved .keras files of one model, e.g. kept by recipe_runs.py")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args()
    data_dir = None if args.dataset.endswith(":sample") else args.data_dir
    try:
        test = zoo_data.load_dataset(args.dataset, data_dir, batch_size=BATCH, validation_split=0.0).test
    except (ValueError, OSError) as error:  # an unknown dataset, a missing --data-dir: one line, not a traceback
        parser.error(str(error))
    images, labels = (np.concatenate(part) for part in zip(*((np.asarray(x), np.asarray(y)) for x, y in test)))
    images = images.astype(np.float32)
    scores, mode = {}, None
    for path in args.models:
        if not os.path.isfile(path):
            parser.error(f"No such model file. Received: {path!r}")
        model = keras.saving.load_model(path)
        mode, first = own_mode(model), mode
        if first is not None and mode != first:
            parser.error(f"Expected models with the same test-time views, {first!r}. Received: {path!r} ({mode!r})")
        if mode is None or "logits" not in {layer.name for layer in model.layers}:
            parser.error(f"Expected a zoo model with test-time views and a `logits` layer. Received: {path!r}")
        mirror = mode != "translate"
        views = logits_by_view(model, images, mirror)
        own = accuracy(views, OWN[mode], labels, mirror)
        saved = float((np.argmax(model.predict(images, batch_size=BATCH, verbose=0), -1) == labels).mean())
        print(f"{path}: its own views ({mode}): {own:.2%} (the saved model: {saved:.2%})", flush=True)
        for name, weights in {f"its own ({mode})": OWN[mode], **SETS}.items():
            scores.setdefault(name, []).append(accuracy(views, weights, labels, mirror))
    base = scores[f"its own ({mode})"]
    print(f"{len(base)} models, {len(labels):,} test images; each view {'with its mirror' if mirror else 'alone'}")
    for name, values in scores.items():
        changes = [100 * (v - b) for v, b in zip(values, base)]
        se = f", standard error {statistics.stdev(changes) / len(changes) ** 0.5:.2f}" if len(changes) > 1 else ""
        print(f"{name}: mean top-1 {100 * statistics.mean(values):.2f}%; paired change "
              f"{round(statistics.mean(changes), 2) + 0.0:+.2f} points{se} "
              f"(better in {sum(c > 0 for c in changes)}, worse in {sum(c < 0 for c in changes)})")


if __name__ == "__main__":
    main()
