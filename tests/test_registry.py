"""The registry, model_info and the FLOP counter."""

import json
import re

import keras
import pytest

import zoo
from zoo import registry
from zoo.flops import count_flops


def test_list_models():
    assert zoo.list_models() == sorted(zoo.list_models())
    assert {"mnist_convnet", "cifar10_net", "vgg16", "edge_convnet", "lm_convnet"} <= set(zoo.list_models())
    assert zoo.list_models("vgg*") == ["vgg16", "vgg19"]
    assert zoo.list_models("*convnet") == ["edge_convnet", "lm_convnet", "mnist_convnet"]
    assert "resnet50" in zoo.list_models("resnet*") and zoo.list_models("nonet*") == []


def test_list_models_bad_pattern():
    with pytest.raises(ValueError, match=re.escape("Received: pattern=3")):
        zoo.list_models(3)


def test_unknown_model_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Did you mean .*'vgg16'.*Received: name='vgg61'") as info:
        zoo.create_model("vgg61")
    assert "mnist_convnet" in str(info.value)  # the available names are listed
    with pytest.raises(ValueError, match="Received: name='resnet51'"):
        zoo.model_info("resnet51")


def test_create_model_rejects_unknown_arguments():
    with pytest.raises(ValueError, match=re.escape("Received: num_classes=5")):
        zoo.create_model("mnist_convnet", num_classes=5)


def test_create_model_passes_arguments():
    model = zoo.create_model("mnist_convnet", classes=5, name="digits")
    assert model.output_shape == (None, 5) and model.name == "digits"


def test_duplicate_registration():
    def mnist_convnet():
        pass

    with pytest.raises(ValueError, match="'mnist_convnet' is already registered"):
        zoo.register_model(mnist_convnet)


def test_model_info_matches_a_real_build():
    info = zoo.model_info("mnist_convnet")
    model = zoo.mnist_convnet()
    assert info["params"] == model.count_params() == 93_322
    assert info["trainable_params"] == 93_322
    assert info["input_shape"] == (28, 28, 1) and info["classes"] == 10
    assert info["pretrained"] == ["mnist"] and zoo.model_info("vgg16")["pretrained"] == ["imagenet"]
    assert info["weights"]["mnist"]["file"] == "mnist_convnet.mnist.weights.h5"
    lm = zoo.model_info("lm_convnet")
    assert lm["params"] - lm["trainable_params"] == 49 * 49 * 48 + 2 * 48  # bank + BN statistics
    json.dumps(info)  # JSON-friendly


def _pending_variables():
    from keras.src.backend.common import global_state

    return list(global_state.get_global_attribute("uninitialized_variables") or [])


def test_model_info_draws_no_weights_and_leaves_none_to_draw():
    """model_info builds without initializing the weights (vgg16's 138 million),
    counts what a real build counts, and leaves Keras nothing to initialize later."""
    registry._static_info.cache_clear()
    pending = _pending_variables()
    info = zoo.model_info("cifar10_net")
    assert _pending_variables() == pending
    model = zoo.cifar10_net()
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    assert (info["params"], info["trainable_params"]) == (model.count_params(), trainable)
    assert info["params"] > trainable  # BatchNorm's statistics and the frozen whitening stem
    assert info["flops"] == count_flops(model) and info["feature_info"][-1]["channels"] == 128


def test_model_info_of_a_factory_that_calls_its_model(monkeypatch):
    """A factory that needs its weights' values is built the ordinary way."""
    import numpy as np

    def eager_net():
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(3, name="fc")(inputs), name="eager_net")
        model.get_layer("fc").set_weights([np.ones((4, 3)), np.zeros(3)])
        assert float(keras.ops.sum(model(np.ones((1, 4))))) == 12.0
        return model

    monkeypatch.setitem(registry._MODELS, "eager_net", eager_net)
    pending = _pending_variables()
    try:
        info = zoo.model_info("eager_net")
    finally:
        registry._static_info.cache_clear()
    assert info["params"] == info["trainable_params"] == 15 and info["classes"] == 3
    assert _pending_variables() == pending


def test_measured_results_come_from_the_results_file(tmp_path, monkeypatch):
    results = tmp_path / "results.json"
    monkeypatch.setattr(registry, "RESULTS_PATH", results)
    assert zoo.model_info("mnist_convnet")["measured"] == {}
    record = {"accuracy": {"mnist": {"top1": 0.9912, "command": "zoo train mnist_convnet"}}}
    results.write_text(json.dumps({"models": {"mnist_convnet": record}}))
    assert zoo.model_info("mnist_convnet")["measured"] == record
    assert zoo.model_info("vgg16")["measured"] == {}
    results.write_text("{not json")
    with pytest.raises(ValueError, match=re.escape(str(results))):
        zoo.model_info("mnist_convnet")


def test_flops_by_hand():
    # 2 FLOPs per multiply-add: conv1 26*26*32*9, conv2 11*11*64*9*32,
    # conv3 3*3*64*9*64, fc1 576*64, predictions 64*10.
    macs = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 9 * 32 + 3 * 3 * 64 * 9 * 64 + 576 * 64 + 64 * 10
    assert zoo.model_info("mnist_convnet")["flops"] == 2 * macs


def test_flops_match_published_vgg_figures():
    # torchvision lists 15.47 and 19.63 G multiply-adds ("GFLOPS") at 224x224.
    assert round(zoo.model_info("vgg16")["flops"] / 2e9, 2) == 15.47
    assert round(zoo.model_info("vgg19")["flops"] / 2e9, 2) == 19.63


def test_flops_of_other_layers():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(inputs)  # 6x6x8 outputs, 9 MACs each
    x = keras.layers.Conv2D(6, 1, groups=2)(x)  # 6x6x6 outputs, 4 MACs each
    x = zoo.layers.EdgeFilters()(x)  # 6x6x12 outputs, 9 MACs each
    model = keras.Model(inputs, keras.layers.Dense(3)(x))  # 6x6x3 outputs, 12 MACs each
    nested = keras.Model(inputs, model(inputs))
    expected = 2 * (6 * 6 * 8 * 9 + 6 * 6 * 6 * 4 + 6 * 6 * 12 * 9 + 6 * 6 * 3 * 12)
    assert count_flops(model) == count_flops(nested) == expected


def test_flops_need_a_fixed_size():
    with pytest.raises(ValueError, match="fixed input size"):
        count_flops(zoo.vgg16(include_top=False))


def test_update_results_keeps_what_it_leaves_alone(tmp_path):
    from zoo.registry import update_results

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"models": {"a": {"accuracy": 1}}, "layers": {"x": 2}}))
    update_results(lambda stored: stored["models"].setdefault("b", {}).update(bench=3), path)
    assert json.loads(path.read_text()) == {"models": {"a": {"accuracy": 1}, "b": {"bench": 3}}, "layers": {"x": 2}}
    update_results(lambda stored: stored.update(layers={}), tmp_path / "new.json")  # no file yet
    assert json.loads((tmp_path / "new.json").read_text()) == {"layers": {}}
