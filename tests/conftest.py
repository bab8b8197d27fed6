"""Shared fixtures: seeded runs, real-looking pixel batches and weight files."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")

# Small but complete configurations, so every registered model runs fast.
SMALL_KWARGS = {
    "vgg16": {"input_shape": (32, 32, 3), "classes": 10},
    "vgg19": {"input_shape": (32, 32, 3), "classes": 10},
}


def small_kwargs(name: str) -> dict:
    return dict(SMALL_KWARGS.get(name, {}))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def pixels(shape, seed=0) -> np.ndarray:
    """A batch of raw uint8 pixels in [0, 255]."""
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def save_keras_applications_h5(model: keras.Model, path: str) -> str:
    """Writes `model`'s weights in the layout of keras.applications' `.h5` files.

    The official VGG files are Keras 2 weight files: `layer_names` on the root,
    one group per layer with `weight_names`, datasets named `<layer>/<var>:0`.
    """
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = names
            for name, w in zip(names, layer.weights):
                group.create_dataset(name.decode(), data=np.asarray(w))
    return path


@pytest.fixture
def vgg16_notop_file(tmp_path):
    """A keras.applications VGG16 `_notop` weights file with random weights,
    and the keras.applications model that holds them."""
    reference = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    path = save_keras_applications_h5(
        reference, str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    )
    return path, reference


def assert_one_line_error(message: str, *fragments: str):
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


