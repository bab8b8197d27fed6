"""The figures: each draws a PNG from real sample images and the zoo's models."""

import pytest

import zoo
from zoo import figures
from zoo.data import read_sample

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def samples():
    (_, _), (digits, labels), _ = read_sample("mnist:sample")
    (_, _), (objects, _), _ = read_sample("cifar10:sample")
    return digits, labels, objects


def test_each_figure_is_a_png(samples, tmp_path):
    digits, labels, objects = samples
    paths = [
        figures.draw_bank("edge", tmp_path / "edge.png"),
        figures.draw_bank("lm", tmp_path / "lm.png"),
        figures.draw_edge_responses(digits[:4], labels[:4], tmp_path / "edges.png"),
        figures.draw_lm_responses(digits[0], tmp_path / "lm_responses.png", "a digit"),
        figures.draw_learned_filters(zoo.mnist_convnet(), tmp_path / "learned.png"),
        figures.draw_feature_maps(zoo.cifar10_net(), objects[0], tmp_path / "maps.png", maps=4),
        figures.draw_curves(
            {"run": [{"epoch": "0", "loss": "1.0", "accuracy": "0.5", "val_loss": "", "val_accuracy": ""},
                     {"epoch": "1", "loss": "0.5", "accuracy": "0.8", "val_loss": "", "val_accuracy": ""}]},
            tmp_path / "curves.png", "title",
        ),
    ]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == PNG, path
    assert not list(tmp_path.glob("*partial*"))


def test_feature_maps_default_to_the_pyramid(samples, tmp_path, monkeypatch):
    model = zoo.cifar10_net(weights="cifar10")
    drawn = []
    extractor = zoo.features.feature_extractor
    monkeypatch.setattr(zoo.features, "feature_extractor", lambda m, layers: drawn.append(layers) or extractor(m, layers))
    figures.draw_feature_maps(model, samples[2][0], tmp_path / "maps.png")
    assert drawn == [[f["layer"] for f in zoo.model_info("cifar10_net")["feature_info"]]]


def test_unknown_bank():
    with pytest.raises(ValueError, match="Received: bank='gabor'"):
        figures.draw_bank("gabor", "x.png")



def test_figures_leave_the_users_matplotlib_backend_and_figures_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # stands in for a notebook's or a GUI's backend
    try:
        mine = plt.figure()
        figures.draw_bank("edge", tmp_path / "edge.png")
        with pytest.raises(FileNotFoundError, match="does not exist"):
            figures.draw_bank("edge", tmp_path / "missing" / "edge.png")
        assert matplotlib.get_backend() == "pdf"
        assert plt.get_fignums() == [mine.number]  # none of the zoo's left open
        plt.close(mine)
    finally:
        matplotlib.use(before)
