"""The zoo's layers: fixed filter banks and test-time augmentation views.

`EdgeFilters` holds 3x3 vertical and horizontal edge detectors (Sobel, Prewitt
or Scharr); `LeungMalikFilters` holds the 48-filter Leung-Malik bank. Both
generate their kernels from their config in `build()`, hold them as
non-trainable weights, apply every filter to every input channel, save and
load without `custom_objects`, and convert to TFLite with builtin ops only.

`LeungMalikFilters` filters through matrix products built on a DFT along the
rows where the image size is known (its 49x49 kernels make a dense
convolution cost 2,401 multiply-adds per pixel and filter; this path needs
about a tenth); `with_dense_filter_banks` gives a copy of a model that
filters with one dense convolution, whose small kernel suits TFLite files and
int8 quantization.

Kernels are cross-correlation kernels, as in every Keras convolution: a
layer's responses equal MATLAB's `imfilter(I, F)` (correlation), not
`conv2(I, F)`, which flips the kernel.

`TestTimeViews` and `ViewMean` put test-time augmentation inside a model:
at inference the first stacks augmented views of each image along the
batch (mirrors, one-pixel shifts), the second merges the model's outputs
over them, so a saved `.keras` file, SavedModel or TFLite file predicts
with the views; in training both pass their input through.

Reference:
    T. Leung and J. Malik, "Representing and Recognizing the Visual Appearance
    of Materials using Three-dimensional Textons", IJCV 43(1), 2001; filter
    bank code: https://www.robots.ox.ac.uk/~vgg/research/texclass/filters.html
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras import ops

from zoo._common import check_choice, check_positive_int

# Vertical-edge kernels (the response to a left-to-right intensity step); the
# horizontal-edge kernel is the transpose.
EDGE_OPERATORS = {
    "sobel": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "prewitt": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "scharr": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
}

SQRT2 = math.sqrt(2.0)
IMPLEMENTATIONS = ("auto", "dft", "dense")


class FixedFilterBank(keras.layers.Layer):
    """Base class: a frozen bank of 2D filters applied to each input channel.

    Subclasses implement `filters()`, returning the bank as an array of shape
    `(size, size, num_filters)`. The output has `channels * num_filters`
    channels ordered channel-major: output channel `c * num_filters + f` is
    filter `f` applied to input channel `c`.

    Args:
        padding: `"same"` (zero padding, output the size of the input) or
            `"valid"`. Defaults to `"same"`.
        **kwargs: Base layer arguments such as `name` and `dtype`.
    """

    def __init__(self, padding: str = "same", **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.padding = check_choice("padding", padding, ("same", "valid"))

    def filters(self) -> np.ndarray:
        raise NotImplementedError

    def kernel_size(self) -> int:
        """The filters' side length."""
        return self.filters().shape[0]

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} needs a known channel count. "
                f"Received: input_shape={input_shape}"
            )
        bank = self.filters().astype("float32")
        kernel = np.repeat(bank[:, :, None, :], channels, axis=2)
        # Held as a weight so the graph, SavedModel and TFLite file carry it;
        # regenerated from the config on every build, so never trained. The
        # kernel is the initial value (an assign after creation would be lost
        # when the layer is first built inside a tf.function).
        self.kernel = self.add_weight(
            name="kernel", shape=kernel.shape, trainable=False,
            initializer=lambda shape, dtype=None: ops.convert_to_tensor(kernel, dtype=dtype),
        )

    def _check_fits(self, input_shape):
        """Raises if `"valid"` padding leaves no output pixel: convolutions
        return an empty map there, or on some CPUs a map of zeros."""
        size = self.kernel_size()
        if self.padding == "valid" and any(s is not None and s < size for s in tuple(input_shape)[1:3]):
            raise ValueError(
                f"`padding='valid'` needs images of at least {size}x{size}. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        self._check_fits(inputs.shape)
        x = ops.cast(inputs, self.compute_dtype)
        kernel = ops.cast(self.kernel, self.compute_dtype)
        if x.shape[-1] == 1:
            # One channel: a plain convolution, faster than depthwise on CPU.
            return ops.conv(x, kernel, padding=self.padding)
        return ops.depthwise_conv(x, kernel, padding=self.padding)

    def compute_output_shape(self, input_shape):
        self._check_fits(input_shape)
        size, _, num_filters = self.filters().shape
        height, width, channels = input_shape[1:]
        if self.padding == "valid":
            height = None if height is None else height - size + 1
            width = None if width is None else width - size + 1
        return (input_shape[0], height, width, channels * num_filters)

    def get_config(self):
        config = super().get_config()
        config["padding"] = self.padding
        return config


@keras.saving.register_keras_serializable(package="zoo")
class EdgeFilters(FixedFilterBank):
    """3x3 vertical and horizontal edge filters, applied to each input channel.

    For each input channel the layer outputs two maps: the vertical-edge
    response (the horizontal derivative, positive where intensity rises from
    left to right) and the horizontal-edge response (positive where intensity
    rises from top to bottom).

    Args:
        operator: `"sobel"`, `"prewitt"` or `"scharr"`. Defaults to `"sobel"`.
        padding: `"same"` or `"valid"`. Defaults to `"same"`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Examples:

        >>> import numpy as np
        >>> step = np.zeros((1, 5, 5, 1), "float32"); step[..., 3:, :] = 1.0
        >>> edges = EdgeFilters(padding="valid")(step)
        >>> tuple(edges.shape)
        (1, 3, 3, 2)
        >>> np.asarray(edges)[0, 0, :, 0].tolist()  # vertical edges, first row
        [0.0, 4.0, 4.0]
    """

    def __init__(self, operator: str = "sobel", padding: str = "same", **kwargs):
        super().__init__(padding=padding, **kwargs)
        self.operator = check_choice("operator", operator, tuple(EDGE_OPERATORS))

    def filters(self) -> np.ndarray:
        vertical = np.asarray(EDGE_OPERATORS[self.operator], dtype="float64")
        return np.stack([vertical, vertical.T], axis=-1)

    def get_config(self):
        config = super().get_config()
        config["operator"] = self.operator
        return config


def _gauss1d(sigma, x, order):
    """A 1D Gaussian (order 0) or its first or second derivative at `x`."""
    variance = sigma**2
    g = np.exp(-(x * x) / (2 * variance)) / math.sqrt(2 * math.pi * variance)
    if order == 1:
        return -g * x / variance
    if order == 2:
        return g * (x * x - variance) / variance**2
    return g


def _normalise(f):
    """Zero mean and unit L1 norm, as `normalise` in makeLMfilters.m."""
    f = f - f.mean()
    return f / np.abs(f).sum()


def _gaussian_2d(r2, sigma):
    g = np.exp(-r2 / (2 * sigma**2))
    g[g < np.finfo(float).eps * g.max()] = 0  # as MATLAB's fspecial
    return g / g.sum()


def leung_malik_bank(
    support: int = 49,
    scales=(SQRT2, SQRT2**2, SQRT2**3),
    blob_scales=(SQRT2, SQRT2**2, SQRT2**3, SQRT2**4),
    orientations: int = 6,
    elongation: float = 3.0,
) -> np.ndarray:
    """Generates the Leung-Malik filter bank as `(support, support, n)` float64.

    A port of Oxford VGG's `makeLMfilters.m`, in that file's order: first
    derivatives of an elongated Gaussian at each scale and orientation, then
    second derivatives likewise, then for each blob scale a Gaussian, a
    Laplacian of Gaussian at that scale and one at 3x that scale. Every filter
    is zero-mean with unit L1 norm.

    Args:
        support: Odd side length of every filter. Defaults to 49.
        scales: Sigmas of the oriented filters across their direction.
            Defaults to sqrt(2)^1..3.
        blob_scales: Sigmas of the Gaussians and LoGs. Defaults to sqrt(2)^1..4.
        orientations: Angles in [0, pi) per scale. Defaults to 6.
        elongation: Ratio of the oriented filters' sigma along their direction
            to across it. Defaults to 3.

    Returns:
        An array of `2 * len(scales) * orientations + 3 * len(blob_scales)`
        filters, shape `(support, support, n)`.
    """
    half = (support - 1) // 2
    # MATLAB's meshgrid(-h:h, h:-1:-h): x grows to the right, y grows upwards.
    x, y = np.meshgrid(np.arange(-half, half + 1), np.arange(half, -half - 1, -1))
    x, y = x.astype("float64"), y.astype("float64")
    first, second = [], []
    for sigma in scales:
        for k in range(orientations):
            angle = math.pi * k / orientations
            c, s = math.cos(angle), math.sin(angle)
            along, across = c * x - s * y, s * x + c * y
            gx = _gauss1d(elongation * sigma, along, 0)
            first.append(_normalise(gx * _gauss1d(sigma, across, 1)))
            second.append(_normalise(gx * _gauss1d(sigma, across, 2)))
    blobs = []
    r2 = x * x + y * y
    for sigma in blob_scales:
        blobs.append(_normalise(_gaussian_2d(r2, sigma)))
        for s in (sigma, 3 * sigma):
            # Laplacian of Gaussian; any positive scale is removed by _normalise.
            blobs.append(_normalise(_gaussian_2d(r2, s) * (r2 - 2 * s**2)))
    return np.stack(first + second + blobs, axis=-1)


@keras.saving.register_keras_serializable(package="zoo")
class LeungMalikFilters(FixedFilterBank):
    """The Leung-Malik (LM) filter bank, applied to each input channel.

    With default arguments the kernel equals Oxford VGG's `makeLMfilters.m`:
    49x49 filters; 18 first- and 18 second-derivative Gaussian filters at 3
    scales x 6 orientations with elongation 3; then, at 4 scales, a Gaussian
    and Laplacians of Gaussian at sigma and 3 sigma. Each filter is zero-mean
    with unit L1 norm. See `leung_malik_bank` for the order.

    Args:
        support: Odd side length of every filter. Defaults to 49.
        scales: Sigmas of the oriented filters, or None for sqrt(2)^1..3.
            Defaults to None.
        blob_scales: Sigmas of the Gaussians and LoGs, or None for
            sqrt(2)^1..4. Defaults to None.
        orientations: Orientations per scale. Defaults to 6.
        padding: `"same"` or `"valid"`. Defaults to `"same"`.
        implementation: `"dft"` (a DFT along the rows, then banded matrix
            products down the columns and the inverse DFT, all as float32
            matmuls; needs a known image size), `"dense"` (one convolution
            with the 49x49 kernel), or `"auto"`: `"dft"` where the image size
            is known, else dense. Both give the same responses to float32
            round-off (about 1e-6 of the input's range). Defaults to `"auto"`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Examples:

        >>> import numpy as np
        >>> bank = LeungMalikFilters()
        >>> tuple(bank(np.zeros((2, 64, 64, 1), "float32")).shape)
        (2, 64, 64, 48)
        >>> tuple(bank.kernel.shape)
        (49, 49, 1, 48)
    """

    def __init__(
        self,
        support: int = 49,
        scales=None,
        blob_scales=None,
        orientations: int = 6,
        padding: str = "same",
        implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(padding=padding, **kwargs)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        check_positive_int("support", support)
        if support % 2 == 0:
            raise ValueError(f"`support` must be odd. Received: support={support!r}")
        self.support = support
        self.scales = self._check_scales("scales", scales, (1, 2, 3))
        self.blob_scales = self._check_scales("blob_scales", blob_scales, (1, 2, 3, 4))
        self.orientations = check_positive_int("orientations", orientations)

    @staticmethod
    def _check_scales(name, value, default_powers):
        if value is None:
            return [SQRT2**p for p in default_powers]
        if (
            not isinstance(value, (list, tuple))
            or not value
            or any(isinstance(s, bool) or not isinstance(s, (int, float)) or s <= 0 for s in value)
        ):
            raise ValueError(
                f"`{name}` must be a non-empty list of positive numbers or None. "
                f"Received: {name}={value!r}"
            )
        return [float(s) for s in value]

    def filters(self) -> np.ndarray:
        return leung_malik_bank(
            self.support, self.scales, self.blob_scales, self.orientations
        )

    def kernel_size(self) -> int:
        return self.support

    def call(self, inputs):
        self._check_fits(inputs.shape)
        height, width = inputs.shape[1:3]
        fast = None not in (height, width)
        if self.implementation == "dft" and not fast:
            raise ValueError(
                "`implementation='dft'` needs a known image size. "
                f"Received: input_shape={tuple(inputs.shape)}"
            )
        if self.implementation == "dense" or not fast:
            return super().call(inputs)
        return ops.cast(self._dft_filter(inputs, height, width), self.compute_dtype)

    def _dft_filter(self, inputs, height, width):
        """The bank's responses through matrix products only.

        A DFT along each row turns every filter's 49 columns into one complex
        coefficient per frequency, so filtering becomes, frequency by
        frequency, a banded (Toeplitz) product down the columns, then an
        inverse DFT along the rows. Each is one batched matmul: about a tenth
        of a dense convolution's multiply-adds, and no FFT op, so every
        backend runs it. The DFT is long enough that no kept response wraps
        around.
        """
        op = self._dft_operators(height, width)
        block, blocks, window = op["block"], op["blocks"], op["window"]
        channels = inputs.shape[-1]
        # Every channel of every image is one single-channel image (rows, cols).
        x = ops.transpose(ops.cast(inputs, "float32"), [0, 3, 1, 2])
        x = ops.reshape(x, [-1, height, width])
        x = ops.pad(x, [[0, 0], [op["top"], op["bottom"]], [0, 0]])
        # Row spectra, (frequency, image, row, real/imaginary).
        spectra = ops.matmul(x, ops.convert_to_tensor(op["dft"]))
        spectra = ops.transpose(ops.reshape(spectra, [-1, x.shape[1], op["frequencies"], 2]), [2, 0, 1, 3])
        # Overlapping windows of rows: one per block of `block` output rows.
        windows = ops.stack([spectra[:, :, b * block : b * block + window] for b in range(blocks)], axis=2)
        windows = ops.reshape(windows, [op["frequencies"], 1, -1, window * 2])
        # (frequency, real/imaginary, image-block, block-row x filter)
        products = ops.matmul(windows, ops.convert_to_tensor(op["toeplitz"]))
        responses = ops.matmul(ops.convert_to_tensor(op["inverse"]), ops.reshape(products, [op["frequencies"] * 2, -1]))
        filters = op["toeplitz"].shape[-1] // block
        responses = ops.reshape(responses, [op["out_width"], -1, channels, blocks * block, filters])
        responses = ops.transpose(responses[:, :, :, : op["out_height"]], [1, 3, 0, 2, 4])
        return ops.reshape(responses, [-1, op["out_height"], op["out_width"], channels * filters])

    def _dft_operators(self, height: int, width: int) -> dict:
        """The constant matrices of `_dft_filter` for one image size, cached."""
        # A plain attribute: NumPy arrays, not state for Keras to track or save.
        cache = self.__dict__.setdefault("_dft_cache", {})
        if (height, width) in cache:
            return cache[(height, width)]
        bank = self.filters()  # float64 (size, size, filters), correlation kernels
        size, _, filters = bank.shape
        shift = size // 2 if self.padding == "same" else 0  # the kernel centre's offset
        out_h, out_w = (height, width) if self.padding == "same" else (height - size + 1, width - size + 1)
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"`padding='valid'` needs images of at least {size}x{size}. "
                f"Received: height={height}, width={width}"
            )
        length = max(width + shift, size)  # no kept response wraps around
        freqs = np.arange(length // 2 + 1)
        # Forward DFT of a row, columns (frequency, real/imaginary).
        angle = 2 * np.pi * np.outer(np.arange(width), freqs) / length
        dft = np.stack([np.cos(angle), -np.sin(angle)], axis=-1).reshape(width, -1)
        # Each filter row's transfer function: (frequency, tap row, filter).
        taps = np.exp(2j * np.pi * np.outer(freqs, np.arange(size) - shift) / length)
        transfer = np.einsum("wc,rcf->wrf", taps, bank)
        # (real, imaginary) in -> (real, imaginary) out of a complex product.
        re, im = transfer.real, transfer.imag
        coupling = np.stack([np.stack([re, im], 2), np.stack([-im, re], 2)], 2)  # (w, r, in, out, f)
        block = min(8, out_h)
        blocks = -(-out_h // block)
        window = block + size - 1
        toeplitz = np.zeros((len(freqs), 2, window, 2, block, filters))
        for i in range(block):
            toeplitz[:, :, i : i + size, :, i, :] = coupling.transpose(0, 3, 1, 2, 4)
        # Inverse DFT to the kept columns: Re(Y e^{i angle}) with the
        # half spectrum's weights.
        weight = np.full(len(freqs), 2.0)
        weight[0] = 1.0
        if length % 2 == 0:
            weight[-1] = 1.0
        angle = 2 * np.pi * np.outer(freqs, np.arange(out_w)) / length
        inverse = (weight[:, None] / length)[:, None] * np.stack([np.cos(angle), -np.sin(angle)], axis=1)
        cache[(height, width)] = op = {
            "dft": dft.astype("float32"),
            "toeplitz": toeplitz.reshape(len(freqs), 2, window * 2, block * filters).astype("float32"),
            "inverse": inverse.reshape(-1, out_w).T.astype("float32"),
            "frequencies": len(freqs), "block": block, "blocks": blocks, "window": window,
            "top": shift, "bottom": blocks * block + size - 1 - height - shift,
            "out_height": out_h, "out_width": out_w,
        }
        return op

    def get_config(self):
        config = super().get_config()
        config.update(
            support=self.support,
            scales=self.scales,
            blob_scales=self.blob_scales,
            orientations=self.orientations,
            implementation=self.implementation,
        )
        return config


def with_dense_filter_banks(model: keras.Model) -> keras.Model:
    """A copy of `model` whose `LeungMalikFilters` filter with a dense convolution.

    For TFLite files: the dense kernel is about 30 times smaller than the
    constant matrices of the `"dft"` path at 64x64 and quantizes like any
    convolution. Every bank is switched, at any depth: inside Functional and
    Sequential models nested in `model`, and inside subclassed layers. The
    copy shares no state with `model` and has its weights.

    Args:
        model: A Functional or Sequential model.

    Returns:
        The copy, or `model` itself when it holds no `LeungMalikFilters`.

    Examples:

        >>> import zoo
        >>> dense = with_dense_filter_banks(zoo.lm_convnet())
        >>> dense.get_layer("lm_filters").implementation
        'dense'
    """
    if not any(isinstance(layer, LeungMalikFilters) for layer in model._flatten_layers()):
        return model

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, LeungMalikFilters):
            config["implementation"] = "dense"
        return layer.__class__.from_config(config)

    # Recursive, or an inner model is rebuilt from its own config, whose
    # banks keep their implementation.
    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for layer in copy._flatten_layers():
        if isinstance(layer, LeungMalikFilters):
            # A bank inside a subclassed layer is rebuilt by its owner; the
            # implementation is only read when the bank is called.
            layer.implementation = "dense"
    copy.set_weights(model.get_weights())
    return copy


@keras.saving.register_keras_serializable(package="zoo")
class ReverseChannels(keras.layers.Layer):
    """Reverses the channel axis (RGB to BGR and back); holds no weights.

    Examples:

        >>> import numpy as np
        >>> np.asarray(ReverseChannels()(np.array([[[[1.0, 2.0, 3.0]]]]))).ravel().tolist()
        [3.0, 2.0, 1.0]
    """

    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels is None:
            return ops.flip(inputs, axis=-1)
        if keras.backend.backend() == "jax":
            # jax2tf lowers a constant gather to vhlo.dynamic_gather_v1, which
            # the TFLite converter cannot translate: slices, concatenated.
            return ops.concatenate(ops.split(inputs, channels, axis=-1)[::-1], axis=-1)
        # A gather, not a reverse: TFLite's int8 REVERSE_V2 gives its output
        # a new scale but copies the raw values, which wrecks a quantized VGG.
        return ops.take(inputs, list(range(channels - 1, -1, -1)), axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape


# Test-time augmentation views (after airbench), each mode's view weights in
# `TestTimeViews`' order: "flip", each image and its mirror; "translate", the
# image and its shifts by one pixel down-right and up-left (reflected
# borders), which count half as much, for images a mirror changes (digits);
# "flip_translate", both: the image, the mirror and the shifts of each.
TEST_TIME_AUGMENTATIONS = {
    "flip": (1.0, 1.0),
    "translate": (1.0, 0.5, 0.5),
    "flip_translate": (1.0, 1.0, 0.5, 0.5, 0.5, 0.5),
}


@keras.saving.register_keras_serializable(package="zoo")
class TestTimeViews(keras.layers.Layer):
    """At inference, stacks augmented views of each image along the batch.

    `(n, h, w, c)` becomes `(views * n, h, w, c)`, one block of `n` per view:
    for `"flip"`, the images and their left-right mirrors; for
    `"translate"`, the images and both their shifts by one pixel down-right
    and up-left (reflected borders); for `"flip_translate"`, the images,
    their mirrors and the shifts of both. In training the layer passes its
    input through. `ViewMean` merges the views back into one prediction per
    image, with the weights `TEST_TIME_AUGMENTATIONS` gives the mode.

    Args:
        mode: `"flip"`, `"translate"` or `"flip_translate"`. Defaults to
            `"flip"`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Examples:

        >>> import numpy as np
        >>> x = np.arange(4, dtype="float32").reshape(1, 1, 4, 1)
        >>> np.asarray(TestTimeViews()(x))[:, 0, :, 0].tolist()
        [[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]]
        >>> x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
        >>> views = np.asarray(TestTimeViews("translate")(x))
        >>> views.shape
        (3, 3, 3, 1)
        >>> views[1, :, :, 0].tolist()  # moved down-right, borders reflected
        [[4.0, 3.0, 4.0], [1.0, 0.0, 1.0], [4.0, 3.0, 4.0]]
    """

    def __init__(self, mode: str = "flip", **kwargs):
        super().__init__(**kwargs)
        check_choice("mode", mode, tuple(TEST_TIME_AUGMENTATIONS))
        self.mode = mode

    def call(self, inputs, training=None):
        if training:
            return inputs
        views = [inputs]
        if self.mode != "flip":
            views += [_shifted(inputs, down_right=True), _shifted(inputs, down_right=False)]
        if self.mode != "translate":
            views = [v for view in views for v in (view, keras.ops.flip(view, axis=2))]
        return keras.ops.concatenate(views, axis=0)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        views = len(TEST_TIME_AUGMENTATIONS[self.mode])
        return (None if batch is None else batch * views, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def checked_views(test_time_augmentation, *, include_top: bool) -> str | None:
    """Checks a factory's `test_time_augmentation` and returns the views its
    model gets: none without the classifier, whose logits merge them.

    Examples:

        >>> checked_views("translate", include_top=True), checked_views("translate", include_top=False)
        ('translate', None)
    """
    check_choice("test_time_augmentation", test_time_augmentation, (None, *TEST_TIME_AUGMENTATIONS))
    return test_time_augmentation if include_top else None


def stack_views(x, views: str | None):
    """`x` with the `views` stacked along the batch (`TestTimeViews`, named as
    `zoo.features` finds it), or `x` itself for none."""
    return TestTimeViews(views, name="test_time_views")(x) if views else x


def merge_views(x, views: str | None):
    """`x` merged over the `views` with their weights (`ViewMean`), or `x` itself for none."""
    return ViewMean(TEST_TIME_AUGMENTATIONS[views], name="view_mean")(x) if views else x


def shifts_by_slicing(mode: str, input_shape) -> bool:
    """Whether `TestTimeViews(mode)` shifts images of `input_shape` by
    slicing rather than from `split` pieces: views with shifts, on images
    whose height or width is unknown until called or under 5 pixels.

    Examples:

        >>> shifts_by_slicing("translate", (None, 28, 28, 1)), shifts_by_slicing("translate", (None, None, None, 3))
        (False, True)
    """
    return mode != "flip" and any(_sliced(size) for size in tuple(input_shape)[1:3])


def _sliced(size) -> bool:
    """Whether a height or width is shifted by slicing: a size known only
    when called (None; in a JAX export, a symbolic dimension, which cannot be
    compared), or too small to split in five."""
    return not isinstance(size, int) or size < 5


def _shifted(x, *, down_right: bool):
    """`x` moved one pixel down-right (or up-left), the border reflected: what
    padding a pixel in "reflect" mode and cropping give, without the pad.

    Each axis is one gather of its rows (or columns) in their new order.
    Built from `split` pieces and concatenated, the shifts made TFLite's int8
    quantizer nondeterministic: it must give a SPLIT_V/CONCATENATION chain
    one scale, and its pieces calibrate differently (an MNIST border row is
    all zeros), so now and then it left the chain in float32. Converting the
    same model again and again on a 2-core Emerald Rapids Xeon, pieces left
    float32 tensors in 13 of 40 mnist_convnet files and 2 of 12 cifar10_net
    ones; gathers in none of 60 and 24 (`tflite_bytes`), with bitwise the
    same outputs and TFLite latencies within the machine's noise. JAX turns a
    constant gather into one the TFLite converter cannot translate
    (vhlo.dynamic_gather_v1), so there the shifts are still pieces, for the
    direct exports of jax2tf's graph (`export_model` converts TFLite files on
    TensorFlow's backend): they converted fully int8 12 times in 12
    (mnist_convnet).
    MIRROR_PAD is no alternative: TFLite runs it outside XNNPACK (0.177
    against 0.107 ms for mnist_convnet's three views from pieces, float32
    at batch 1, a 2-core Zen 4).
    """
    for axis in (1, 2):
        x = _shifted_along(x, axis, forward=down_right)
    return x


def _shifted_along(x, axis: int, *, forward: bool):
    """`x` moved one step along `axis` (to higher indices if `forward`), the border reflected."""
    size = x.shape[axis]
    if size == 1:
        return x  # a one-pixel side is its own reflection
    if _sliced(size):
        step = lambda s: x[(slice(None),) * axis + (s,)]  # noqa: E731
        parts = [step(slice(1, 2)), step(slice(None, -1))] if forward else [step(slice(1, None)), step(slice(-2, -1))]
        return keras.ops.concatenate(parts, axis=axis)
    if keras.backend.backend() != "jax":
        order = [1, *range(size - 1)] if forward else [*range(1, size), size - 2]
        return keras.ops.take(x, order, axis=axis)
    first, second, middle, before_last, last = keras.ops.split(x, [1, 2, size - 2, size - 1], axis=axis)
    parts = [second, first, second, middle, before_last] if forward else [second, middle, before_last, last, before_last]
    return keras.ops.concatenate(parts, axis=axis)


@keras.saving.register_keras_serializable(package="zoo")
class ViewMean(keras.layers.Layer):
    """At inference, the weighted mean of the views that `TestTimeViews` stacked.

    `(views * n, ...)` becomes `(n, ...)`; in training the layer passes its
    input through.

    Args:
        weights: Weight of each view, in `TestTimeViews`' order; normalised
            to sum to 1. Defaults to `(1.0, 1.0)`.
        **kwargs: Base layer arguments such as `name` and `dtype`.
    """

    def __init__(self, weights=(1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(weights, (str, bytes))
            or not isinstance(weights, (list, tuple, np.ndarray))
            or len(weights) == 0
            or any(isinstance(w, bool) or not isinstance(w, numbers.Real) or not w >= 0 for w in weights)
            or not sum(weights) > 0
        ):
            raise ValueError(
                "`weights` must be a non-empty list of non-negative numbers with a positive sum. "
                f"Received: weights={weights!r}"
            )
        self.view_weights = tuple(float(w) for w in weights)

    def call(self, inputs, training=None):
        if training:
            return inputs
        blocks = keras.ops.reshape(inputs, (len(self.view_weights), -1, *inputs.shape[1:]))
        weights = np.array(self.view_weights) / sum(self.view_weights)
        weights = keras.ops.cast(weights.reshape((-1,) + (1,) * len(inputs.shape)), blocks.dtype)
        return keras.ops.sum(blocks * weights, axis=0)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch // len(self.view_weights), *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "weights": list(self.view_weights)}
