"""The package installs what it needs and exposes what it promises."""

import importlib.metadata

import zoo


def test_declared_dependencies_import():
    # tensorflow-datasets 4.9.10 needs importlib_resources but does not declare it.
    import ai_edge_litert.interpreter  # noqa: F401
    import keras_tuner  # noqa: F401
    import tensorflow_datasets  # noqa: F401

    requires = " ".join(importlib.metadata.requires("keras-zoo"))
    for name in ("keras>=3.14", "tensorflow>=2.20", "keras-tuner>=1.4.7", "importlib_resources",
                 "ai-edge-litert", "pillow", 'keras-tuner[bayesian]>=1.4.7; extra == "bayesian"'):
        assert name in requires, name
    import PIL  # noqa: F401


def test_public_api():
    for name in ("mnist_convnet", "cifar10_net", "vgg16", "list_models", "create_model", "model_info"):
        assert callable(getattr(zoo, name)) and name in zoo.__all__
    assert importlib.metadata.entry_points(group="console_scripts", name="zoo")
