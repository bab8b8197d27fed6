"""Shipped weight sets: their records, hash-checked offline loading, measured
accuracy, channel adaptation, decode_predictions and keras.applications arguments."""

import inspect
import json
import os
import re
import shutil
import socket

import keras
import numpy as np
import pytest
from conftest import pixels
from test_cli import run

import zoo
from zoo import data as zoo_data
from zoo import vgg
from zoo.models import mobilenet, resnet
from zoo import weights as zoo_weights

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
SHIPPED = [(m, t) for m in zoo.list_models() for t in zoo_weights.tags(m)
           if zoo_weights.record(m, t)["file"]]
REQUIRED = {"model", "tag", "file", "config", "class_names", "input_shape", "preprocessing", "dataset",
            "train_records", "command", "metrics"}


def test_every_trained_model_ships_weights():
    assert sorted(SHIPPED) == [
        ("cifar10_net", "cifar10"), ("edge_convnet", "mnist"), ("lm_convnet", "mnist"), ("mnist_convnet", "mnist"),
    ]
    imagenet = {"vgg16", "vgg19", "resnet50", "mobilenet_v2"}
    assert zoo.list_models(pretrained=True) == sorted({m for m, _ in SHIPPED} | imagenet)
    assert zoo.list_models("*convnet", pretrained=True) == ["edge_convnet", "lm_convnet", "mnist_convnet"]
    with pytest.raises(ValueError, match=re.escape("Received: pretrained='yes'")):
        zoo.list_models(pretrained="yes")


@pytest.mark.parametrize("name,tag", SHIPPED)
def test_record_describes_the_file(name, tag):
    record = zoo.model_info(name)["weights"][tag]
    assert REQUIRED <= set(record), REQUIRED - set(record)
    path = zoo_weights.WEIGHTS_DIR / record["file"]
    assert record["size"] == path.stat().st_size < 2_000_000
    assert record["sha256"] == zoo_weights.sha256(path)
    assert len(record["class_names"]) == record["config"]["classes"] == 10
    assert record["input_shape"] == record["config"]["input_shape"] == list(zoo.model_info(name)["input_shape"])
    assert record["command"].startswith(f"zoo train {name} --dataset ")
    assert record["train_records"] > 0 and f"{record['train_records']:,} records" in record["dataset"]
    for split in ("test", "sample_test"):
        assert 0.5 < record["metrics"][split]["top1"] <= 1 and record["metrics"][split]["records"] > 0
    assert "CPU" in record["metrics"]["machine"]


@pytest.mark.parametrize("name,top1", [("vgg16", 0.713), ("vgg19", 0.713), ("resnet50", 0.749), ("mobilenet_v2", 0.713)])
def test_imagenet_record_matches_the_download(name, top1):
    record = zoo.model_info(name)["weights"]["imagenet"]
    for include_top, key in ((True, "top"), (False, "notop")):
        if name == "mobilenet_v2":  # one file per width and size
            files = record["files"][key]
            assert files["alpha"] == list(mobilenet.IMAGENET_ALPHAS) and files["rows"] == list(mobilenet.IMAGENET_SIZES)
            fname = files["file"].format(alpha=0.35, rows=96)
            assert files["url"].format(alpha=0.35, rows=96) == mobilenet._WEIGHTS_URL.format(file=fname)
            assert files["md5"] is None  # keras.applications publishes none
            assert fname == f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96{'' if include_top else '_no_top'}.h5"
            continue
        module = vgg if name.startswith("vgg") else resnet
        fname, md5 = module.IMAGENET_WEIGHTS[(name, include_top)]
        url = module._WEIGHTS_URL.format(arch=name, file=fname)
        assert record["files"][key] == {"file": fname, "md5": md5, "url": url}
    assert record["metrics"]["test"]["top1"] == top1 and record["metrics"]["test"]["records"] == 50000
    names = zoo_weights.class_names(name, "imagenet")
    assert len(names) == len(set(json.dumps(e) for e in json.loads(
        (zoo_weights.WEIGHTS_DIR / "imagenet_classes.json").read_text()))) == 1000
    assert names[:2] == ["tench", "goldfish"]


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _sample(dataset):
    (_, _), (x, y), _ = zoo_data.read_sample(f"{dataset}:sample")
    return x, y


def _accuracy(model, x, y):
    return float(np.mean(model.predict(x.astype("float32"), batch_size=256, verbose=0).argmax(-1) == y))


@pytest.mark.parametrize("name,tag", SHIPPED)
def test_shipped_weights_load_offline_and_score_as_recorded(name, tag, offline):
    record = zoo_weights.record(name, tag)
    model = zoo.create_model(name, weights=tag)
    x, y = _sample(tag)  # each tag is its dataset's name
    sample = record["metrics"]["sample_test"]
    assert len(y) == sample["records"]
    # One image's worth of slack: float summation order differs between machines.
    assert abs(_accuracy(model, x, y) - sample["top1"]) <= 1 / len(y) + 1e-9


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="needs ../shared/data, the subsets the weights were measured on")
@pytest.mark.parametrize("name,tag", SHIPPED)
def test_shipped_weights_score_as_recorded_on_the_shared_test_split(name, tag):
    record = zoo_weights.record(name, tag)
    (_, _), (x, y), _ = zoo_data.read_raw(tag, SHARED)
    assert len(y) == record["metrics"]["test"]["records"]
    accuracy = _accuracy(zoo.create_model(name, weights=tag), x, y)
    assert abs(accuracy - record["metrics"]["test"]["top1"]) <= 1 / len(y) + 1e-9


def test_damaged_or_missing_weights_are_named(tmp_path, monkeypatch):
    copy = tmp_path / "weights"
    shutil.copytree(zoo_weights.WEIGHTS_DIR, copy)
    monkeypatch.setattr(zoo_weights, "WEIGHTS_DIR", copy)
    zoo_weights._records.cache_clear()
    try:
        target = copy / "mnist_convnet.mnist.weights.h5"
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        with pytest.raises(ValueError, match="are damaged: .* has sha256"):
            zoo.mnist_convnet(weights="mnist")
        target.unlink()
        with pytest.raises(ValueError, match="missing from this install"):
            zoo.mnist_convnet(weights="mnist")
    finally:
        zoo_weights._records.cache_clear()


DOWNLOADED = [(m, t) for m in zoo.list_models() for t in zoo_weights.tags(m) if (m, t) not in SHIPPED]


@pytest.mark.parametrize("name,tag", DOWNLOADED)
def test_downloaded_weight_sets_have_no_shipped_path(name, tag):
    """keras.applications' ImageNet records have no file: a ValueError says so, not a TypeError."""
    with pytest.raises(ValueError, match=re.escape(f"Received: weights={tag!r}")) as info:
        zoo_weights.weights_path(name, tag)
    assert "not shipped" in str(info.value) and "downloads" in str(info.value)
    with pytest.raises(ValueError, match="not shipped"):
        zoo_weights.load_pretrained(zoo.create_model(name, include_top=False, input_shape=(32, 32, 3)),
                                    getattr(zoo, name), name, tag)
    assert len(zoo_weights.class_names(name, tag)) == 1000


def test_unknown_tags_name_the_choices():
    with pytest.raises(ValueError, match=re.escape("Received: weights='cifar10'")) as info:
        zoo.mnist_convnet(weights="cifar10")
    assert "'mnist'" in str(info.value)


def test_new_classes_keep_the_trained_base():
    trained = zoo.mnist_convnet(weights="mnist")
    five = zoo.mnist_convnet(weights="mnist", classes=5)
    assert five.output_shape == (None, 5)
    for name in ("conv1", "conv2", "conv3", "fc1"):
        for a, b in zip(five.get_layer(name).get_weights(), trained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_shipped_weights_fill_a_model_with_test_time_views():
    # The views' model names its classifier `logits` (then `view_mean` and
    # `predictions`); the weights were saved from one naming it `predictions`.
    trained = zoo.mnist_convnet(weights="mnist")
    views = zoo.mnist_convnet(weights="mnist", test_time_augmentation="translate")
    for a, b in zip(views.get_layer("logits").get_weights(), trained.get_layer("predictions").get_weights()):
        np.testing.assert_array_equal(a, b)
    five = zoo.mnist_convnet(weights="mnist", test_time_augmentation="translate", classes=5)
    assert five.output_shape == (None, 5)


def test_weights_refuse_another_architecture():
    with pytest.raises(ValueError, match="do not fit layer 'conv2'"):
        zoo.mnist_convnet(weights="mnist", filters=(32, 32, 64))
    with pytest.raises(ValueError, match=r"input must be \(28, 28\)"):
        zoo.mnist_convnet(weights="mnist", input_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="trained with edge_filters"):
        zoo.edge_convnet(weights="mnist", operator="prewitt")
    # Without the head, any input size takes them.
    assert zoo.mnist_convnet(weights="mnist", include_top=False, input_shape=(40, 40, 1)).output_shape == (
        None, 6, 6, 64)


@pytest.mark.parametrize("old,new", [(1, 2), (1, 4), (3, 1), (3, 2), (3, 4), (3, 6), (3, 7)])
def test_adapted_kernels_keep_their_channel_sum(old, new):
    kernel = np.random.default_rng(0).normal(size=(3, 3, old, 5)).astype("float32")
    adapted = zoo_weights.adapt_kernel(kernel, new)
    assert adapted.shape == (3, 3, new, 5) and adapted.dtype == kernel.dtype
    np.testing.assert_allclose(adapted.sum(axis=2), kernel.sum(axis=2), rtol=1e-5, atol=1e-5)
    if new % old == 0:  # timm's repeat and rescale, exactly
        np.testing.assert_allclose(adapted, np.tile(kernel, (1, 1, new // old, 1)) * old / new, rtol=1e-6)


@pytest.mark.parametrize("name,tag", SHIPPED)
def test_four_channel_models_adapt_the_shipped_weights(name, tag):
    shape = tuple(zoo.model_info(name)["input_shape"])
    trained = zoo.create_model(name, weights=tag)
    four = zoo.create_model(name, weights=tag, input_shape=(*shape[:2], 4))
    first = "stem_conv" if name == "cifar10_net" else "conv1"
    np.testing.assert_allclose(
        np.asarray(four.get_layer(first).kernel).sum(axis=2),
        np.asarray(trained.get_layer(first).kernel).sum(axis=2), rtol=1e-5, atol=1e-5,
    )
    if shape[-1] == 1:
        # Equal channels: each sees what the trained 1-channel model sees.
        x = pixels((4, *shape)).astype("float32")
        np.testing.assert_allclose(
            np.asarray(four(np.repeat(x, 4, axis=-1))), np.asarray(trained(x)), rtol=1e-4, atol=1e-5
        )


def test_four_channel_vgg_from_a_local_weights_file(vgg16_notop_file):
    path, reference = vgg16_notop_file
    four = zoo.vgg16(weights=path, include_top=False, input_shape=(32, 32, 4))
    kernel = np.asarray(reference.get_layer("block1_conv1").kernel)  # BGR
    adapted = np.asarray(four.get_layer("block1_conv1").kernel)
    np.testing.assert_allclose(adapted.sum(axis=2), kernel.sum(axis=2), rtol=1e-5, atol=1e-5)
    # RGB order, then red again (timm's repeat), rescaled by 3/4, plus a
    # quarter each of what that leaves over from the channel sum.
    tiled = np.concatenate([kernel[:, :, ::-1], kernel[:, :, 2:]], axis=2) * 0.75
    expected = tiled + (kernel.sum(axis=2, keepdims=True) - tiled.sum(axis=2, keepdims=True)) / 4
    np.testing.assert_allclose(adapted, expected, rtol=1e-5, atol=1e-6)
    x = pixels((2, 32, 32, 1)).astype("float32")
    rgb = keras.applications.vgg16.preprocess_input(np.repeat(x, 3, axis=-1))
    ours = np.asarray(keras.Model(four.input, four.get_layer("block1_conv1").output)(np.repeat(x, 4, axis=-1)))
    theirs = np.asarray(keras.Model(reference.input, reference.get_layer("block1_conv1").output)(rgb))
    np.testing.assert_allclose(ours[:, 1:-1, 1:-1], theirs[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-4)


def test_decode_predictions_names_the_classes():
    preds = np.zeros((2, 10), "float32")
    preds[0, 3], preds[1, 9] = 0.9, 0.6
    decoded = zoo.decode_predictions(preds, weights=("cifar10_net", "cifar10"), top=1)
    assert decoded == [[("cat", pytest.approx(0.9))], [("truck", pytest.approx(0.6))]]
    imagenet = zoo.decode_predictions(np.eye(1000)[[1]], weights=("vgg16", "imagenet"), top=3)
    assert [name for name, _ in imagenet[0]] == ["goldfish", "tench", "great_white_shark"]
    with pytest.raises(ValueError, match=re.escape("Received: preds.shape=(2, 7)")):
        zoo.decode_predictions(np.zeros((2, 7)), weights=("mnist_convnet", "mnist"))
    with pytest.raises(ValueError, match=re.escape("Received: top=0")):
        zoo.decode_predictions(preds, weights=("mnist_convnet", "mnist"), top=0)
    with pytest.raises(ValueError, match=re.escape("Received: weights='mnist'")):
        zoo.decode_predictions(preds, weights="mnist")


def test_cli_lists_and_predicts_with_shipped_weights(tmp_path, capsys):
    from PIL import Image

    x, y = _sample("mnist")
    model = zoo.mnist_convnet(weights="mnist")
    right = int(np.flatnonzero(model.predict(x[:50].astype("float32"), verbose=0).argmax(-1) == y[:50])[0])
    Image.fromarray(x[right, :, :, 0]).save(tmp_path / "digit.png")
    code, listed, err = run(capsys, "list", "--pretrained", "--markdown")
    assert code == 0, err
    rows = [line.split("|")[1].strip() for line in listed.splitlines()[2:]]
    assert rows == zoo.list_models(pretrained=True)
    code, predicted, err = run(capsys, "predict", "mnist_convnet:mnist", str(tmp_path / "digit.png"), "--json")
    assert code == 0, err
    assert json.loads(predicted)[0]["top_k"][0]["name"] == str(y[right])


@pytest.mark.parametrize("name", zoo.list_models())
def test_input_tensor(name):
    shape = tuple(zoo.model_info(name)["input_shape"])
    big = name in ("vgg16", "vgg19", "resnet50", "mobilenet_v2")
    shape = (32, 32, 3) if big else shape
    kwargs = {"include_top": False} if big else {}
    tensor = keras.Input(shape)
    model = zoo.create_model(name, input_tensor=tensor, **kwargs)
    assert model.inputs[0] is tensor and model.input_shape == (None, *shape)
    # A layer's output: the model starts at its source input, as keras.applications'.
    raw = keras.Input((shape[0] * 2, shape[1] * 2, shape[2]))
    resized = keras.layers.Resizing(*shape[:2])(raw)
    model = zoo.create_model(name, input_tensor=resized, **kwargs)
    assert model.inputs[0] is raw
    x = pixels((1, *raw.shape[1:])).astype("float32")
    assert np.all(np.isfinite(np.asarray(model(x))))
    with pytest.raises(ValueError, match=re.escape("Received: input_tensor=")):
        zoo.create_model(name, input_tensor=np.zeros((1, *shape)), **kwargs)
    with pytest.raises(ValueError, match=re.escape("Received: input_shape=")):
        zoo.create_model(name, input_tensor=tensor, input_shape=(64, 64, shape[-1]), **kwargs)


@pytest.mark.parametrize("ours,theirs", [
    (zoo.vgg16, keras.applications.VGG16), (zoo.vgg19, keras.applications.VGG19),
    (zoo.resnet50, keras.applications.ResNet50), (zoo.mobilenet_v2, keras.applications.MobileNetV2),
])
def test_every_keras_applications_argument_is_accepted(ours, theirs):
    accepted = inspect.signature(ours).parameters
    assert set(inspect.signature(theirs).parameters) <= set(accepted)
    for name in ("include_top", "input_shape", "pooling", "classes", "classifier_activation", "input_tensor"):
        if name in inspect.signature(theirs).parameters:
            assert accepted[name].default == inspect.signature(theirs).parameters[name].default, name
    # keras.applications builds with ImageNet weights by default; the zoo downloads only when asked.
    assert accepted["weights"].default is None


@pytest.mark.parametrize("name,tag", SHIPPED)
def test_shipped_weights_load_into_the_feature_model(name, tag):
    shape = tuple(zoo.model_info(name)["input_shape"])
    x = pixels((2, *shape)).astype("float32")
    classifier = zoo.create_model(name, weights=tag)
    features = zoo.create_model(name, weights=tag, features_only=True)
    for a, b in zip(features(x), zoo.feature_extractor(classifier)(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
