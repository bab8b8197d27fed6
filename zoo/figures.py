"""Figures of filters, responses and feature maps, drawn with matplotlib.

Each function takes arrays or models and writes one PNG, atomically;
`tools/make_figures.py` draws the documentation's figures with them from
real MNIST and CIFAR-10 images, and `zoo filters edge|lm --out PNG` draws a
filter bank.
"""

from __future__ import annotations

import keras
import numpy as np

from zoo._common import check_choice
from zoo.callbacks import atomic_write
from zoo.layers import EDGE_OPERATORS, EdgeFilters, LeungMalikFilters, leung_malik_bank

BANKS = ("edge", "lm")


class _Figures:
    """The two pyplot calls the figures make, on bare `matplotlib.figure.Figure`s.

    Not pyplot itself: switching the process to the Agg backend
    (`matplotlib.use`) would take a notebook's or a GUI's backend from under
    its user, and pyplot keeps every figure a failed write leaves open.
    A bare Figure renders to PNG with Agg and needs no display.
    """

    @staticmethod
    def subplots(nrows=1, ncols=1, *, figsize=None, **kwargs):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **kwargs)

    @staticmethod
    def close(fig):
        """Nothing to do: no pyplot registry holds the figure."""


def pyplot():
    """A pyplot stand-in (`subplots`, `close`) that draws files only: it
    needs no display and leaves the process's matplotlib backend alone."""
    return _Figures


def save_figure(fig, path) -> str:
    """Writes `fig` as a PNG, atomically; returns `path`."""
    atomic_write(str(path), lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"), mode="wb")
    return str(path)


def _show(ax, image, title=None, cmap="gray", symmetric=False):
    image = np.asarray(image, "float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3:  # RGB pixels
        ax.imshow(np.clip(image / 255.0, 0, 1))
    elif symmetric:
        limit = float(np.abs(image).max()) or 1.0
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        ax.imshow(image, cmap=cmap)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def draw_bank(bank: str, path: str) -> str:
    """Draws a fixed filter bank: the edge operators or the 48 LM filters.

    Args:
        bank: `"edge"` (Sobel, Prewitt and Scharr, vertical and horizontal)
            or `"lm"` (the Leung-Malik bank in `makeLMfilters.m` order).
        path: The PNG to write.

    Returns:
        `path`.

    Examples:

        >>> import tempfile
        >>> draw_bank("edge", tempfile.mkdtemp() + "/edge.png").endswith("edge.png")
        True
    """
    check_choice("bank", bank, BANKS)
    plt = pyplot()
    if bank == "edge":
        fig, axes = plt.subplots(2, len(EDGE_OPERATORS), figsize=(2.2 * len(EDGE_OPERATORS), 4.6))
        for column, (name, kernel) in enumerate(EDGE_OPERATORS.items()):
            kernel = np.asarray(kernel, "float32")
            for row, (k, what) in enumerate(((kernel, "vertical edges"), (kernel.T, "horizontal edges"))):
                ax = axes[row, column]
                _show(ax, k, f"{name}: {what}", symmetric=True)
                for (i, j), value in np.ndenumerate(k):
                    ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=9)
        fig.suptitle("EdgeFilters: 3x3 kernels (cross-correlation; red positive)")
        return save_figure(fig, path)
    filters = leung_malik_bank()
    fig, axes = plt.subplots(4, 12, figsize=(12, 4.6))
    for i, ax in enumerate(axes.flat):
        _show(ax, filters[..., i], str(i), symmetric=True)
    fig.suptitle(
        "LeungMalikFilters: 0-17 first and 18-35 second derivatives (3 scales x 6 orientations), "
        "36-47 Gaussians and LoGs"
    )
    return save_figure(fig, path)


def draw_edge_responses(images, labels, path: str, operator: str = "sobel") -> str:
    """Draws images beside their vertical- and horizontal-edge responses.

    Args:
        images: `(n, height, width, 1)` grey images, raw pixels.
        labels: A label per image, for the titles.
        path: The PNG to write.
        operator: The `EdgeFilters` operator. Defaults to `"sobel"`.

    Returns:
        `path`.
    """
    images = np.asarray(images, "float32") / 255.0
    responses = np.asarray(EdgeFilters(operator)(images))
    plt = pyplot()
    fig, axes = plt.subplots(3, len(images), figsize=(1.4 * len(images), 4.6), squeeze=False)
    for i, (image, label) in enumerate(zip(images, labels)):
        _show(axes[0, i], image[..., 0], str(label))
        _show(axes[1, i], responses[i, ..., 0], symmetric=True)
        _show(axes[2, i], responses[i, ..., 1], symmetric=True)
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("vertical")
    axes[2, 0].set_ylabel("horizontal")
    fig.suptitle(f"EdgeFilters({operator!r}) on real MNIST digits")
    return save_figure(fig, path)


def draw_lm_responses(image, path: str, title: str = "") -> str:
    """Draws one grey image and its 48 Leung-Malik responses.

    Args:
        image: `(height, width, 1)` raw pixels.
        path: The PNG to write.
        title: Describes the image.

    Returns:
        `path`.
    """
    image = np.asarray(image, "float32")[None] / 255.0
    responses = np.asarray(LeungMalikFilters()(image))[0]
    plt = pyplot()
    fig, axes = plt.subplots(5, 12, figsize=(12, 5.6))
    for ax in axes[0]:
        ax.axis("off")
    _show(axes[0, 0], image[0, ..., 0], "input")
    for i, ax in enumerate(axes[1:].flat):
        _show(ax, responses[..., i], str(i), symmetric=True)
    fig.suptitle(f"LeungMalikFilters responses{': ' + title if title else ''}")
    return save_figure(fig, path)


def draw_learned_filters(model: keras.Model, path: str, layer: str = "conv1") -> str:
    """Draws a trained model's first-layer 3x3 filters beside the fixed edge filters.

    Args:
        model: A trained model whose `layer` is a Conv2D on one channel.
        path: The PNG to write.
        layer: The convolution to draw. Defaults to `"conv1"`.

    Returns:
        `path`.
    """
    kernel = np.asarray(model.get_layer(layer).kernel)  # (3, 3, 1, filters)
    learned = kernel[:, :, 0, :]
    count = learned.shape[-1]
    columns = 8
    rows = -(-count // columns)
    plt = pyplot()
    fig, axes = plt.subplots(rows + 1, columns, figsize=(columns * 1.1, (rows + 1) * 1.25))
    for ax in axes.flat:
        ax.axis("off")
    fixed = [(f"{name} {d}", k) for name, v in EDGE_OPERATORS.items()
             for d, k in (("V", np.asarray(v)), ("H", np.asarray(v).T))]
    for ax, (name, k) in zip(axes[0], fixed):
        ax.axis("on")
        _show(ax, k, name, symmetric=True)
    for i in range(count):
        ax = axes[1 + i // columns, i % columns]
        ax.axis("on")
        _show(ax, learned[..., i], str(i), symmetric=True)
    fig.suptitle(f"Fixed edge filters (top) and the {count} filters {model.name} learned in {layer!r}")
    return save_figure(fig, path)


def draw_feature_maps(model: keras.Model, image, path: str, layers: list[str] | None = None,
                      maps: int = 8) -> str:
    """Draws the feature-map pyramid of a zoo model for one image: the first
    `maps` maps at the end of each stage, from `zoo.feature_extractor`.

    Args:
        model: A zoo model (any Functional model when `layers` is given).
        image: `(height, width, channels)` raw pixels.
        path: The PNG to write.
        layers: Layer names, in order. Defaults to the end of each stage.
        maps: Feature maps per layer. Defaults to 8.

    Returns:
        `path`.
    """
    from zoo.features import feature_extractor, stage_ends

    if layers is None:
        layers = stage_ends(model)
    probe = feature_extractor(model, layers)
    outputs = probe(np.asarray(image, "float32")[None])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    plt = pyplot()
    fig, axes = plt.subplots(len(layers), maps + 1, figsize=(1.3 * (maps + 1), 1.4 * len(layers)), squeeze=False)
    for row, (name, out) in enumerate(zip(layers, outputs)):
        out = np.asarray(out, "float32")[0]
        label = f"{name}\n{out.shape[0]}x{out.shape[1]}x{out.shape[2]}"
        if row == 0:
            _show(axes[row, 0], image, "input")
        else:
            axes[row, 0].axis("off")
        axes[row, 1].set_ylabel(label, fontsize=7)
        for i in range(maps):
            _show(axes[row, i + 1], out[..., i % out.shape[-1]], cmap="viridis")
    fig.suptitle(f"The feature pyramid of {model.name} (zoo.feature_extractor): each stage shrinks the map "
                 "and widens the features", fontsize=9)
    return save_figure(fig, path)


def draw_curves(histories: dict, path: str, title: str | None = None) -> str:
    """Draws loss and accuracy per epoch of one or several runs.

    Args:
        histories: `{label: rows}`, rows as read from a run's `history.csv`
            (dicts with `epoch`, `loss`, `accuracy`, maybe `val_*`).
        path: The PNG to write.
        title: The figure's title. Defaults to none.

    Returns:
        `path`.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, rows in histories.items():
        epochs = [int(r["epoch"]) + 1 for r in rows]
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, [float(r[metric]) for r in rows], marker="o", ms=3, label=f"{label} train")
            if rows and all(r.get("val_" + metric) not in (None, "") for r in rows):
                ax.plot(epochs, [float(r["val_" + metric]) for r in rows], "--", label=f"{label} validation")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
