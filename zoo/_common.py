"""Argument checks and building blocks shared by the zoo's model factories.

Every check raises `ValueError` naming the argument and what it received, in the
style of `keras.applications`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence

import keras

POOLING_MODES = (None, "avg", "max")
# Batch-norm statistics follow 10% of each batch (PyTorch's default); Keras'
# 0.99 lags badly over the few hundred steps of a short CPU schedule.
BN_MOMENTUM = 0.9


# What TensorFlow adds around a graph's error: where it happened, not what.
_GRAPH_TRACE = ("Detected at node", "<stack traces", 'File "', "[[")


def one_line(error: BaseException | str, limit: int | None = 300) -> str:
    """An error message on one line, cut to `limit` characters (None: not cut).

    A TensorFlow graph error ("Graph execution error: Detected at node ...")
    keeps only what failed: the node trace, its frames and the
    `[[{{node ...}}]]` tail go.

    Examples:

        >>> one_line("Graph execution error:\\n\\nDetected at node conv1/Relu defined at (most recent call last):"
        ...          "\\n<stack traces unavailable>\\nOperation received an exception: could not create a primitive"
        ...          "\\n\\t [[{{node conv1/Relu}}]] [Op:__inference_step_42]")
        'Graph execution error: Operation received an exception: could not create a primitive'
        >>> one_line("a\\nlong message", limit=10)
        'a long ...'
    """
    lines = [line.strip() for line in str(error).splitlines()]
    if lines and lines[0].startswith("Graph execution error"):
        lines = [line for line in lines if not line.startswith(_GRAPH_TRACE)]
    message = " ".join(" ".join(lines).split())
    return message if limit is None or len(message) <= limit else message[: limit - 3] + "..."


def last_line(text: str) -> str:
    """The last non-blank line of `text`: an error's own words, without what came before.

    Examples:

        >>> last_line("Traceback ...\\n  File x\\nValueError: bad\\n")
        'ValueError: bad'
    """
    return next((line for line in reversed(text.strip().splitlines()) if line.strip()), text)


def did_you_mean(name: str, choices, *, cutoff: float = 0.5, shown=repr) -> str:
    """`" Did you mean 'a', 'b'?"` for the (up to 3) `choices` close to `name`, else `""`.

    Examples:

        >>> did_you_mean("vgg61", ["vgg16", "vgg19", "resnet50"])
        " Did you mean 'vgg19', 'vgg16'?"
    """
    close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=cutoff)
    return f" Did you mean {', '.join(shown(c) for c in close)}?" if close else ""


# Where the zoo keeps what it may rebuild: the precision probe's rates, the
# JAX backend's compiled programs (default: $XDG_CACHE_HOME/keras-zoo).
CACHE_ENV = "ZOO_CACHE_DIR"


def cache_dir() -> str:
    """The zoo's cache folder: `$ZOO_CACHE_DIR`, else `$XDG_CACHE_HOME/keras-zoo` (`~/.cache/keras-zoo`)."""
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "keras-zoo")


def format_count(n: int) -> str:
    """A parameter or FLOP count in G, M or K, as `zoo list` and the model cards show it."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def check_positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """Returns `value` if it is a positive (or zero) integer, else raises."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(
            f"`{name}` must be {kind} integer. Received: {name}={value!r}"
        )
    return value


def check_int_sequence(name: str, value) -> tuple[int, ...]:
    """Returns `value` as a non-empty tuple of positive integers, else raises."""
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or len(value) == 0
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
    ):
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive integers. "
            f"Received: {name}={value!r}"
        )
    return tuple(value)


def check_rate(name: str, value) -> float:
    """Returns `value` if it is a probability in [0, 1), else raises."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"`{name}` must be a number in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_choice(name: str, value, choices: Sequence):
    """Returns `value` if it is one of `choices`, else raises."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}"
        )
    return value


def check_input_shape(
    input_shape,
    *,
    default: tuple[int, int, int],
    min_size: int,
    require_static: bool,
) -> tuple:
    """Validates a channels-last `(height, width, channels)` image shape.

    Args:
        input_shape: The shape passed by the user, or `None` for `default`.
        default: The model's default input shape.
        min_size: The smallest height and width the model accepts.
        require_static: Whether height and width must be known (a model with a
            `Flatten` head needs them).

    Returns:
        The shape as a tuple.
    """
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras-zoo models are channels-last. Received: "
            f"keras.config.image_data_format()={keras.config.image_data_format()!r}"
        )
    if input_shape is None:
        return tuple(default)
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ValueError(
            "`input_shape` must be a tuple (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(
            "`input_shape` must have 3 entries (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )

    def is_size(v):
        return isinstance(v, int) and not isinstance(v, bool) and v > 0

    height, width, channels = shape
    if not is_size(channels):
        raise ValueError(
            "The channel count in `input_shape` must be a positive integer. "
            f"Received: input_shape={input_shape!r}"
        )
    for side in (height, width):
        if side is None:
            if require_static:
                raise ValueError(
                    "Height and width must be known when `include_top=True`. "
                    f"Received: input_shape={input_shape!r}"
                )
        elif not is_size(side):
            raise ValueError(
                "Height and width in `input_shape` must be positive integers or None. "
                f"Received: input_shape={input_shape!r}"
            )
        elif side < min_size:
            raise ValueError(
                f"Height and width must be at least {min_size}. "
                f"Received: input_shape={input_shape!r}"
            )
    return shape


def check_conv_stack_fits(input_shape, num_convs: int, padding: str, halvings: int = 0):
    """Raises unless a stack of 3x3 convolutions leaves at least one pixel.

    The stack: `halvings` 2x2 pools first, then `num_convs` convolutions with
    a 2x2 pool after every one but the last, as in `mnist_convnet`.
    """
    for side in input_shape[:2]:
        if side is None:
            continue
        size = side // 2**halvings
        for i in range(num_convs):
            size -= 2 if padding == "valid" else 0
            if i < num_convs - 1 and size >= 1:
                size //= 2
        if size < 1:
            raise ValueError(
                f"The input is too small for {num_convs} convolutions with "
                f"padding={padding!r}. Use a larger input, fewer `filters` or "
                f"padding='same'. Received: input_shape={tuple(input_shape)}"
            )


def check_head(
    *, include_top: bool, pooling, classes, classifier_activation, weights=None
):
    """Validates the classifier-head arguments shared by every factory."""
    if not isinstance(include_top, bool):
        raise ValueError(
            f"`include_top` must be True or False. Received: include_top={include_top!r}"
        )
    check_choice("pooling", pooling, POOLING_MODES)
    check_positive_int("classes", classes)
    try:
        activation = keras.activations.get(classifier_activation)
    except (ValueError, TypeError):
        raise ValueError(
            "`classifier_activation` must be a Keras activation name, a callable or "
            f"None. Received: classifier_activation={classifier_activation!r}"
        ) from None
    if weights is not None and activation not in (
        keras.activations.get("softmax"),
        keras.activations.get(None),
    ):
        raise ValueError(
            "Only `classifier_activation='softmax'` or None may be used with pretrained "
            f"weights. Received: classifier_activation={classifier_activation!r}"
        )


def check_weights_path(weights, *, named=()) -> str | None:
    """Validates `weights`: None, one of the `named` sets, or an existing file."""
    if weights is None or weights in named:
        return weights
    if isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if os.path.isfile(path):
            return path
        if os.sep in path or path.endswith((".h5", ".keras")):
            raise ValueError(f"Weights file not found. Received: weights={path!r}")
    options = ", ".join([repr(n) for n in named] + ["None", "or a path to a weights file"])
    raise ValueError(f"`weights` must be {options}. Received: weights={weights!r}")


def load_weights_file(model: keras.Model, path: str) -> None:
    """Loads a weights file saved from the same architecture, or raises.

    Accepts Keras 3 `.weights.h5` and `.keras` files and legacy `.h5` files.
    Any failure, corrupt file or mismatched architecture, becomes one
    `ValueError` naming the file, never a silent random initialisation.
    """
    if not path.endswith((".weights.h5", ".keras", ".h5", ".hdf5")):
        raise ValueError(
            "Weights files must end in .weights.h5, .keras, .h5 or .hdf5. "
            f"Received: weights={path!r}"
        )
    try:
        model.load_weights(path)
    except Exception as e:  # Keras raises many types for a bad file.
        raise ValueError(
            f"Could not load weights into {model.name!r} from {path!r}: {one_line(e)}"
        ) from None


def finish_model(
    inputs, outputs, *, name: str, weights: str | None, factory=None, input_tensor=None
) -> keras.Model:
    """Wraps the graph in a Functional model and loads `weights` if given.

    Args:
        inputs: The model's input, from `image_input`.
        outputs: Its output.
        name: The model name.
        weights: None, a tag of the factory's shipped weights, or a file.
        factory: The registered factory, for shipped weights.
        input_tensor: The caller's `input_tensor`; the model then starts at
            its source inputs, as keras.applications' models do.
    """
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, outputs, name=name)
    if weights is None:
        return model
    if factory is not None and weights in pretrained_tags(factory):
        from zoo.weights import load_pretrained

        load_pretrained(model, factory, factory.__name__, weights)
    else:
        load_weights_file(model, weights)
    return model


def pretrained_tags(factory) -> tuple[str, ...]:
    """The shipped weight sets of a factory's model (`zoo.weights.tags`)."""
    from zoo.weights import tags

    return tags(factory.__name__)


def classifier_head(x, *, classes, classifier_activation, name="predictions"):
    """The final dense layer, named like keras.applications' `predictions`."""
    return keras.layers.Dense(classes, activation=classifier_activation, name=name)(x)


def global_pool(x, pooling):
    """Applies the `pooling` argument of a headless model."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def image_input(input_shape, input_tensor=None):
    """The model's image input: a new float32 `keras.Input`, or `input_tensor`.

    Raises:
        ValueError: If `input_tensor` is not a Keras tensor, or its shape
            disagrees with `input_shape`.
    """
    if input_tensor is None:
        return keras.Input(shape=input_shape, name="image")
    if tuple(input_tensor.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"`input_tensor` has shape {tuple(input_tensor.shape)}, `input_shape` says "
            f"{tuple(input_shape)}. Received: input_shape={input_shape!r}"
        )
    return input_tensor


def input_shape_of(input_tensor, input_shape):
    """The `input_shape` to build for: the caller's, else `input_tensor`'s.

    Raises:
        ValueError: If `input_tensor` is not a 4D Keras tensor (Keras 3
            wraps no other tensors, unlike Keras 2's `Input(tensor=...)`).
    """
    if input_tensor is None:
        return input_shape
    if not keras.backend.is_keras_tensor(input_tensor) or len(input_tensor.shape) != 4:
        raise ValueError(
            "`input_tensor` must be a 4D Keras tensor, such as `keras.Input((32, 32, 3))` or a "
            f"layer's output. Received: input_tensor={input_tensor!r}"
        )
    return tuple(input_tensor.shape[1:]) if input_shape is None else input_shape
