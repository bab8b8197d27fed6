"""Every registered model exports: SavedModel, TFLite and ONNX agree with Keras.

Apart from tests/test_models.py, so that the two test processes share the
slowest per-model work (`make test` gives each process whole files).
"""

import gc

import keras
import numpy as np
import pytest
from conftest import pixels, small_kwargs

import zoo

# What the default suite's 15 minutes on 2 cores cannot spare runs with the
# slow tests, where a cheaper test converts the same ops:
# - vgg19 is vgg16's builder with more convolutions, the same layers and ops
#   (its exports are the largest files, 570 MB of ONNX graph);
# - vgg16's ONNX conversion (55 s on a 2-core Zen 4): the rest of the
#   default suite converts its convolutions, pools and dense layers, and
#   tests/test_export.py its RGB-to-BGR input (test_onnx_keeps_vgg_channel_order);
#   its SavedModel and TFLite exports stay;
# - resnet50's exports (42 s for ONNX, 28 s for SavedModel and TFLite):
#   resnet9 converts the same convolution, batch-norm and residual-add ops;
# - mobilenet_v2's SavedModel and float TFLite parity (28 s): its ONNX
#   parity here and its full-int8 TFLite export in tests/test_applications.py
#   convert the same depthwise, inverted-residual and ReLU6 ops.


def _models(slow):
    return pytest.mark.parametrize(
        "name", [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in zoo.list_models()]
    )


each_model = _models(("vgg19", "resnet50", "mobilenet_v2"))
each_model_onnx = _models(("vgg19", "vgg16", "resnet50"))


@pytest.fixture(autouse=True)
def _release_memory():
    """Releases each model's graphs before the next, so that one process does
    not hold every model's at once on a 24 GB machine."""
    yield
    keras.backend.clear_session()
    gc.collect()


@each_model
def test_export_parity(name, tmp_path):
    """SavedModel and builtin-ops TFLite files agree with Keras within 1e-4."""
    import tensorflow as tf

    from zoo import export

    model = zoo.create_model(name, **small_kwargs(name))
    x = pixels((2, *model.input_shape[1:])).astype("float32")
    expected = model.predict(x, verbose=0)
    reloaded = tf.saved_model.load(export.export_saved_model(model, str(tmp_path / "sm")))
    np.testing.assert_allclose(reloaded.serve(x).numpy(), expected, atol=1e-4)
    tflite = export.export_tflite(model, str(tmp_path / f"{name}.tflite"))
    np.testing.assert_allclose(export.run_tflite(tflite, x), expected, atol=1e-4)


@each_model_onnx
def test_onnx_parity(name, tmp_path):
    """Every registered model exports to ONNX: raw pixels in, a dynamic batch,
    within 1e-4 of Keras on real test images, with the parity report."""
    from zoo import export
    from zoo.predict import OnnxRunner

    model = zoo.create_model(name, **small_kwargs(name))
    path = str(tmp_path / f"{name}.onnx")
    report = export.export_model(model, path, format="onnx", parity_images=16, calibration_images=1)
    assert report["within_tolerance"] and report["parity"]["max_abs_diff"] <= 1e-4, report["parity"]
    assert report["parity"]["top1_agreement"] == 1.0 and report["input"]["batch"] == "dynamic"
    runner = OnnxRunner(path)
    assert runner.input_shape == tuple(model.input_shape[1:])
    for batch in (1, 3):
        x = pixels((batch, *model.input_shape[1:])).astype("float32")
        np.testing.assert_allclose(runner(x), model.predict(x, verbose=0), atol=1e-4)
    assert runner.graph_outputs() == "probabilities"


def test_views_of_images_of_any_size_export_on_every_backend(tmp_path):
    """Test-time views that shift images of a size known only when called
    export as a SavedModel on every backend. jax2tf cannot trace those shifts
    (it cannot compare the symbolic sizes), so on JAX `export_model` converts
    them on TensorFlow's backend (as it does every TFLite file), and the
    direct exports refuse in one line."""
    import re

    from zoo import export

    model = zoo.cifar10_net(input_shape=(None, None, 3), filters=(16, 32), convs_per_stage=1,
                            test_time_augmentation="flip_translate")
    report = export.export_model(model, str(tmp_path / "any_size"), format="saved_model", parity_images=16)
    assert report["within_tolerance"] and report["parity"]["top1_agreement"] == 1.0, report["parity"]
    assert ("converted for a process" in report["backend"]) == (keras.backend.backend() != "tensorflow")
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match=re.escape("Received: input_shape=(None, None, None, 3)")):
            export.tflite_bytes(model)
        # A fixed size shifts from split pieces, which jax2tf traces.
        fixed = zoo.cifar10_net(filters=(16, 32), convs_per_stage=1, test_time_augmentation="flip_translate")
        assert len(export.tflite_bytes(fixed)) > 0


def test_tflite_files_are_tensorflows_on_every_backend(tmp_path):
    """TFLite files convert on TensorFlow's backend wherever the model is:
    from jax2tf's graph, which keeps BatchNorm apart from the convolutions,
    they ran 6x to 19x slower and int8 ones kept float32 ops. A
    batch-normalised model with test-time views, float32 and fully int8;
    on JAX the direct export names `export_model` in one line."""
    from zoo import export

    model = zoo.cifar10_net(filters=(16, 32), convs_per_stage=1, test_time_augmentation="flip_translate")
    for quantize in ("none", "int8"):
        path = str(tmp_path / f"{quantize}.tflite")
        report = export.export_model(model, path, format="tflite", quantize=quantize, parity_images=16,
                                     calibration_images=16)
        assert ("converted for a process" in report["backend"]) == (keras.backend.backend() != "tensorflow")
        # int8 has no tolerance; an untrained model's probabilities are close
        # to uniform, and the int8 file's within 0.002 of them here.
        assert report["parity"]["max_abs_diff"] < (1e-4 if quantize == "none" else 0.02), report["parity"]
        if quantize == "int8":
            with open(path, "rb") as f:
                assert not export.float_tensors(f.read())
    if keras.backend.backend() == "jax":
        calibration = pixels((4, 32, 32, 3)).astype("float32")
        with pytest.raises(ValueError, match=r"^'cifar10_net' does not convert to a fully int8 TFLite file: .* "
                                             r"use zoo.export.export_model or `zoo export`"):
            export.tflite_bytes(model, "int8", calibration=calibration)
