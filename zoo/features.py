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

import operator
import re
from collections.abc import Callable, Sequence

import keras
import numpy as np

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


def _found_stage_ends(names: list[str]) -> list[str] | None:
    """The stage ends by the first family rule that finds them in the layer names, else None."""
    return next((ends for ends in (rule(names) for rule in _STAGE_RULES.values()) if ends), None)


def has_stages(model: keras.Model) -> bool:
    """Whether a model is of one of the zoo's families, whose stages `stage_ends` finds."""
    return _found_stage_ends([layer.name for layer in model.layers]) is not None


def stage_ends(model: keras.Model) -> list[str]:
    """The names of the layers that end each stage of a zoo model, in order.

    Raises:
        ValueError: If the model is not one of the zoo's families.
    """
    names = [layer.name for layer in model.layers]
    ends = _found_stage_ends(names)
    if ends:
        return ends
    raise ValueError(
        "Found no zoo stages in this model; pass `layers` with the names of the layers "
        f"to tap. Received: model={model.name!r} with layers {names[:8]}..."
    )


def wants_features(features_only, out_indices) -> bool:
    """Checks a factory's `features_only` and `out_indices`; returns `features_only`.

    Raises:
        ValueError: If `features_only` is not a bool, or `out_indices` is
            given without `features_only=True` (it would be ignored).
    """
    if not isinstance(features_only, bool):
        raise ValueError(f"`features_only` must be True or False. Received: features_only={features_only!r}")
    if out_indices is not None and not features_only:
        raise ValueError(
            "`out_indices` picks the stages of a feature model: pass it with features_only=True. "
            f"Received: out_indices={out_indices!r}"
        )
    return features_only


def _check_out_indices(out_indices, count: int) -> list[int]:
    if out_indices is None:
        return list(range(count))
    is_sequence = isinstance(out_indices, Sequence) and not isinstance(out_indices, (str, bytes))
    is_array = isinstance(out_indices, np.ndarray) and out_indices.ndim == 1
    if not (is_sequence or is_array) or len(out_indices) == 0:
        raise ValueError(
            f"`out_indices` must be a non-empty sequence of stage indices. Received: out_indices={out_indices!r}"
        )
    picked = []
    for i in out_indices:
        try:
            # Any integral index, NumPy's included, as timm takes; not bools or floats.
            index = None if isinstance(i, (bool, np.bool_)) else operator.index(i)
        except TypeError:
            index = None
        if index is None or not -count <= index < count:
            raise ValueError(
                f"`out_indices` must hold integer stage indices in [{-count}, {count}) for this model's "
                f"{count} stages. Received: out_indices={tuple(out_indices)!r}"
            )
        picked.append(index % count)
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


def _cumulative_stride(tensor, memo: dict) -> int:
    """The product of the strides of the convolutions and poolings on the way
    from the input to `tensor` (the largest over branches that differ)."""
    operation, node_index, _ = tensor._keras_history
    key = (id(operation), node_index)
    if key not in memo:
        node = operation._inbound_nodes[node_index]
        parents = [_cumulative_stride(t, memo) for t in node.input_tensors]
        # Convolutions and poolings keep `strides` (a pooling's defaults to its pool size).
        strides = getattr(operation, "strides", None) or (1,)
        memo[key] = max(parents, default=1) * int(strides[0])
    return memo[key]


def feature_info(model: keras.Model) -> list[dict]:
    """One record per stage of a zoo model: `index`, `layer`, `channels`, `reduction`.

    `reduction` is the stage's cumulative stride, as timm's
    `feature_info.reduction()`: the product of the strides of the
    convolutions and poolings between the input and the stage's map. It
    depends on the layers alone, not on the input size, which may be unknown;
    with "valid" convolutions the map is smaller than the input over it.

    Examples:

        >>> import zoo
        >>> [f["reduction"] for f in feature_info(zoo.vgg16(include_top=False, input_shape=(224, 224, 3)))]
        [1, 2, 4, 8, 16]
        >>> [f["reduction"] for f in feature_info(zoo.mnist_convnet(include_top=False, input_shape=(None, None, 1)))]
        [1, 2, 4]
    """
    info, memo = [], {}
    for index, name in enumerate(stage_ends(model)):
        output = model.get_layer(name).output
        reduction = _cumulative_stride(output, memo)
        info.append({"index": index, "layer": name, "channels": int(output.shape[-1]), "reduction": reduction})
    return info


def build_feature_model(factory: Callable[..., keras.Model], kwargs: dict) -> keras.Model:
    """What a factory returns for `features_only=True`.

    The network is built without its head, so any input size the stages
    allow works. Its weights come from `weights` as the classifier would
    load them: a weight set or file made for the classifier is loaded into
    it, then copied over layer by layer (`zoo.weights.transfer_weights`); a
    file saved from the headless model loads directly; `"imagenet"` reads
    only the family's headless (`_notop`) file.

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
            # The classifier's weights are for weight sets and files made for the
            # classifier. "imagenet" has a headless file of its own: its failure
            # (no network, a damaged cache) is the one to report, not a cue to
            # download the much larger file with the head (528 MB for VGG-16).
            if weights == "imagenet":
                raise
            classifier = dict(kwargs, include_top=True, input_shape=None, input_tensor=None, weights=weights)
            try:
                source = factory(**classifier)
            except ValueError:
                raise headless_error from None
            transfer_weights(source, base, what=f"weights={weights!r}")
    return feature_extractor(base, out_indices=out_indices)
