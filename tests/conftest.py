"""Shared fixtures: seeded runs, real-looking pixel batches and weight files."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The zoo's cache (the precision probe's rates, the JAX backend's compiled
# programs that the CLI keeps) in a folder of this test process, not the
# user's; tests of the cache itself point ZOO_CACHE_DIR elsewhere.
os.environ["ZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="zoo-test-cache-")
atexit.register(shutil.rmtree, os.environ["ZOO_CACHE_DIR"], ignore_errors=True)
# `--precision auto` decides by the device's kind alone in the tests (and the
# CLI runs they start), which would otherwise time each model they train
# once per machine; tests/test_precision.py and the probe's own tests turn
# the timing on.
os.environ.setdefault("ZOO_PRECISION_PROBE", "0")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


def _bfloat16_held_back() -> bool:
    from zoo.precision import current_device

    return current_device().bfloat16_held_back


# For tests that compute in bfloat16: oneDNN held below this CPU's bfloat16
# instructions (ONEDNN_MAX_CPU_ISA=AVX2 on a Zen 4 or 5, a stand-in for an
# AVX2-only CPU) fails TensorFlow's bfloat16 kernels, and zoo refuses it.
needs_bfloat16 = pytest.mark.skipif(_bfloat16_held_back(),
                                    reason="oneDNN is held below this CPU's bfloat16 instructions")

# Small but complete configurations, so every registered model runs fast.
SMALL_KWARGS = {
    "vgg16": {"input_shape": (32, 32, 3), "classes": 10},
    "vgg19": {"input_shape": (32, 32, 3), "classes": 10},
    "resnet50": {"input_shape": (32, 32, 3), "classes": 10},
    "mobilenet_v2": {"input_shape": (32, 32, 3), "classes": 10},
}


def small_kwargs(name: str) -> dict:
    return dict(SMALL_KWARGS.get(name, {}))


# Keras' backend of this process (KERAS_BACKEND): `make test` runs the model,
# layer and training tests on JAX too, `make test-torch` on PyTorch.
BACKEND = keras.backend.backend()
# Tests of TensorFlow itself, skipped on the other backends, by node id
# (a parametrized test's id, or its name for every parameter).
TENSORFLOW_ONLY = {
    "tests/test_layers.py::TestLeungMalik::test_dft_traces_with_an_unknown_batch":
        "traces the layer with tf.function",
    "tests/test_layers.py::TestLeungMalik::test_auto_takes_the_dense_path_for_unknown_sizes":
        "traces the layer with tf.function",
    "tests/test_layers.py::TestLeungMalik::test_built_inside_a_tf_function": "traces the layer with tf.function",
    "tests/test_training.py::test_nan_loss_stops_and_keeps_the_last_good_model":
        "counts batches with a tf.Variable inside the tf.data pipeline, which Keras' other trainers read ahead",
    "tests/test_training.py::test_mirrored_strategy_on_two_logical_cpus": "tf.distribute",
    "tests/test_training.py::test_multiworker_strategy_on_localhost": "tf.distribute",
    # The TF_CONFIG message: elsewhere --strategy is refused for the backend (tests/test_backends.py).
    "tests/test_training.py::test_bad_input[argv6-fragments6]": "tf.distribute",
}
# Known failures of one other backend, each with its reason.
NOT_ON = {
    # Keras exports from PyTorch through torch_xla, which fails on these
    # models; zoo.export converts in a TensorFlow process instead, which
    # tests/test_backends.py checks.
    "torch": {
        "tests/test_layers.py::test_export_parity": "direct exports (zoo.export.export_tflite) refuse PyTorch",
        "tests/test_model_exports.py::test_export_parity": "direct exports (zoo.export.export_tflite) refuse PyTorch",
        "tests/test_layers.py::TestLeungMalik::test_tflite_of_a_wrapped_lm_convnet_is_as_small_as_its_own":
            "direct exports (zoo.export.tflite_bytes) refuse PyTorch",
    },
}


def pytest_configure(config):
    config.addinivalue_line("markers", "torch: runs the zoo on Keras' PyTorch backend (`make test-torch`)")


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    known = NOT_ON.get(BACKEND, {})
    for item in items:
        for table, what in ((TENSORFLOW_ONLY, "TensorFlow only"), (known, "a known limitation")):
            reason = table.get(item.nodeid) or table.get(item.nodeid.split("[")[0])
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"{what} on Keras' {BACKEND} backend: {reason}"))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(autouse=True)
def _inference_without_autograd_on_torch(request):
    """On PyTorch a layer's outputs carry autograd state, which NumPy refuses:
    the model and layer tests, which train nothing, call them without it."""
    if BACKEND != "torch" or request.module.__name__ not in ("test_models", "test_layers"):
        yield
        return
    import torch

    with torch.no_grad():
        yield


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


def weighted_layers(model):
    """`[(name, [weight shapes])]` of the layers with weights: what must equal
    between a zoo model and its keras.applications twin."""
    return [(l.name, [tuple(w.shape) for w in l.weights]) for l in model.layers if l.weights]


def calibrate_batch_norm(model, images):
    """Sets every batch normalisation's statistics to those of `images`, in
    one pass (momentum 0): random weights, but the activation ranges of a
    trained network, which is what int8 calibration sees."""
    layers = {l: l.momentum for l in model.layers if isinstance(l, keras.layers.BatchNormalization)}
    for layer in layers:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in layers.items():
        layer.momentum = momentum
    return model


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


