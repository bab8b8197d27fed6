"""Feature extraction: the feature map at the end of each stage of a zoo model.

A stage is the run of layers at one resolution. Each family names the layer
that ends each of its stages (`stage_ends`): the last activation before the
map is pooled to the next resolution, and the last one of the network, as
timm's `features_only` does. `feature_extractor` wraps any zoo model, freshly
built or loaded from a `.keras` file, in a Functional model that returns
those maps, sharing the model's layers and weights; `features_only=True` on a
factory gives the same model directly.

Reference:
    timm's feature extraction, https://huggingface.co/docs/timm/feature_extraction
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import keras

# Each family's rule for its stage ends, `{family: fn(layer names) -> names or None}`.
_STAGE_RULES: dict[str, Callable[[list[str]], list[str] | None]] = {}
# Layers that only reshape the batch at inference and must not reach features.
_INFERENCE_ONLY = ("TestTimeViews",)


def stage_rule(family: str):
    """Registers a family's rule: from a model's layer names, its stage ends, or None."""

    def register(fn):
        _STAGE_RULES[family] = fn
        return fn

    return register


def numbered(names, pattern: str) -> list[tuple[int, ...]]:
    """The numbers in the names that match `pattern`'s groups, sorted:
    `numbered(["block2_conv1"], r"block(\\d+)_conv(\\d+)") == [(2, 1)]`."""
    found = [re.fullmatch(pattern, n) for n in names]
    return sorted(tuple(int(g) for g in m.groups()) for m in found if m)


@stage_rule("classic")
def _classic_stage_ends(names):
    # mnist_convnet, edge_convnet, lm_convnet: conv{i}, or conv{i}_relu after
    # batch normalisation; the fixed-filter ones first map at full size.
    convs = [i for (i,) in numbered(names, r"conv(\d+)")]
    if not convs or convs != list(range(1, len(convs) + 1)):
        return None
    ends = [f"conv{i}_relu" if f"conv{i}_relu" in names else f"conv{i}" for i in convs]
    return (["bank_bn"] if "bank_bn" in names else []) + ends


@stage_rule("cifar")
def _cifar_stage_ends(names):
    if "stem_act" not in names:
        return None
    blocks = {}
    for stage, block in numbered(names, r"stage(\d+)_block(\d+)_act"):
        blocks[stage] = max(block, blocks.get(stage, 0))
    return ["stem_act"] + [f"stage{s}_block{b}_act" for s, b in sorted(blocks.items())]


def stage_ends(model: keras.Model) -> list[str]:
    """The names of the layers that end each stage of a zoo model, in order.

    Raises:
        ValueError: If the model is not one of the zoo's families.
    """
    names = [layer.name for layer in model.layers]
    for rule in _STAGE_RULES.values():
        ends = rule(names)
        if ends:
            return ends
    raise ValueError(
        "Found no zoo stages in this model; pass `layers` with the names of the layers "
        f"to tap. Received: model={model.name!r} with layers {names[:8]}..."
    )


def _check_out_indices(out_indices, count: int) -> list[int]:
    if out_indices is None:
        return list(range(count))
    if isinstance(out_indices, (str, bytes)) or not isinstance(out_indices, Sequence) or not out_indices:
        raise ValueError(
            f"`out_indices` must be a non-empty sequence of stage indices. Received: out_indices={out_indices!r}"
        )
    picked = []
    for i in out_indices:
        if isinstance(i, bool) or not isinstance(i, int) or not -count <= i < count:
            raise ValueError(
                f"`out_indices` must hold stage indices in [{-count}, {count}) for this model's "
                f"{count} stages. Received: out_indices={tuple(out_indices)!r}"
            )
        picked.append(i % count)
    if len(set(picked)) != len(picked):
        raise ValueError(f"`out_indices` names a stage twice. Received: out_indices={tuple(out_indices)!r}")
    return sorted(picked)


def _layer_outputs(model: keras.Model, names: list[str]):
    """The inputs and the outputs of the named layers, in a graph without test-time views.

    A model with `TestTimeViews` is re-traced with identities in their place
    and every other layer shared, so the features are one per image.
    """
    if not any(type(layer).__name__ in _INFERENCE_ONLY for layer in model.layers):
        return model.input, [model.get_layer(n).output for n in names]
    outputs = {}

    def reuse(layer):
        if type(layer).__name__ in _INFERENCE_ONLY:
            return keras.layers.Identity(name=layer.name)
        return layer

    def call(layer, *args, **kwargs):
        outputs[layer.name] = layer(*args, **kwargs)
        return outputs[layer.name]

    clone = keras.models.clone_model(model, clone_function=reuse, call_function=call)
    return clone.input, [outputs[n] for n in names]


def feature_extractor(
    model: keras.Model, layers: Sequence[str] | None = None, *, out_indices: Sequence[int] | None = None
) -> keras.Model:
    """Wraps a zoo model in one that returns the feature map of each stage.

    The new model shares the model's layers and weights: training one trains
    the other. Test-time augmentation views (`TestTimeViews`, in what
    `zoo train` saves of `mnist_convnet`, `cifar10_net` and `resnet9`) are
    left out, so each image gives one map per stage.

    Args:
        model: A zoo model: built by a factory or loaded from a `.keras` file,
            fine-tuned or not.
        layers: Names of the layers whose outputs to return, in order; None
            for the end of every stage (see `model_info(name)["feature_info"]`).
            Defaults to None.
        out_indices: Which stages to keep, as indices into the stages
            (negative ones count from the last). Only with `layers=None`.
            Defaults to all.

    Returns:
        A Functional `keras.Model` on the same input whose outputs are a list
        of 4D feature maps, shallowest first.

    Raises:
        ValueError: If the model has no zoo stages and no `layers` were given,
            or a layer name or index does not exist.

    Examples:

        >>> import zoo
        >>> features = zoo.feature_extractor(zoo.mnist_convnet())
        >>> [tuple(s) for s in features.output_shape]
        [(None, 26, 26, 32), (None, 11, 11, 64), (None, 3, 3, 64)]
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if layers is None:
        names = stage_ends(model)
        names = [names[i] for i in _check_out_indices(out_indices, len(names))]
    else:
        if out_indices is not None:
            raise ValueError(f"Pass `layers` or `out_indices`, not both. Received: out_indices={out_indices!r}")
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
            raise ValueError(f"`layers` must be a non-empty list of layer names. Received: layers={layers!r}")
        names = list(layers)
    known = {layer.name for layer in model.layers}
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"The model {model.name!r} has no layer {missing[0]!r}. Received: layers={names!r}")
    inputs, outputs = _layer_outputs(model, names)
    for name, output in zip(names, outputs):
        if len(output.shape) != 4:
            raise ValueError(
                f"Layer {name!r} outputs shape {tuple(output.shape)}, not a feature map. Received: layers={names!r}"
            )
    return keras.Model(inputs, outputs, name=f"{model.name}_features")


def feature_info(model: keras.Model) -> list[dict]:
    """One record per stage of a zoo model: `index`, `layer`, `channels`, `reduction`.

    `reduction` is the input height over the stage's map height, from the
    model's own shapes (None where the input size is not fixed).

    Examples:

        >>> import zoo
        >>> [f["reduction"] for f in feature_info(zoo.vgg16(include_top=False, input_shape=(224, 224, 3)))]
        [1.0, 2.0, 4.0, 8.0, 16.0]
    """
    height = model.input_shape[1]
    info = []
    for index, name in enumerate(stage_ends(model)):
        shape = model.get_layer(name).output.shape
        reduction = round(height / shape[1], 3) if height and shape[1] else None
        info.append({"index": index, "layer": name, "channels": int(shape[-1]), "reduction": reduction})
    return info


def build_feature_model(factory: Callable[..., keras.Model], kwargs: dict) -> keras.Model:
    """What a factory returns for `features_only=True`.

    The network is built without its head, so any input size the stages
    allow works. Its weights come from `weights` as the classifier would
    load them: a weight set or file made for the classifier is loaded into
    it, then copied over layer by layer (`zoo.weights.transfer_weights`); a
    file saved from the headless model loads directly.

    Args:
        factory: The model's factory.
        kwargs: The factory's arguments, `features_only` and `out_indices`
            among them.
    """
    kwargs = dict(kwargs)
    out_indices = kwargs.pop("out_indices")
    kwargs.pop("features_only")
    weights = kwargs.pop("weights")
    name = kwargs.pop("name")
    headless = dict(kwargs, include_top=False, pooling=None)
    base = factory(**headless, weights=None, name=name)
    # Checks out_indices before any weights are read.
    _check_out_indices(out_indices, len(stage_ends(base)))
    if weights is not None:
        from zoo.weights import transfer_weights

        try:
            base = factory(**headless, weights=weights, name=name)
        except ValueError as headless_error:
            classifier = dict(kwargs, include_top=True, input_shape=None, input_tensor=None, weights=weights)
            try:
                source = factory(**classifier)
            except ValueError:
                raise headless_error from None
            transfer_weights(source, base, what=f"weights={weights!r}")
    return feature_extractor(base, out_indices=out_indices)
