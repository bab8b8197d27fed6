"""`zoo.distribution`: the tf.distribute strategies and their bad input."""

import pytest

from zoo.distribution import make_strategy


@pytest.mark.parametrize("config,fragment", [
    ("notjson", "Expecting value"),
    ("[]", "not a JSON object"),
    ('{"cluster": 5}', "`cluster` must be a dictionary"),
])
def test_a_bad_tf_config_is_named(monkeypatch, config, fragment):
    """TensorFlow's own errors named neither TF_CONFIG nor its value (one came
    out as "zoo: error: Expecting value: line 1 column 1 (char 0)", another as
    a TypeError the CLI reported as a bug in keras-zoo)."""
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("TF_CONFIG", config)
    with pytest.raises(ValueError, match="TF_CONFIG") as error:
        make_strategy("multiworker")
    message = str(error.value)
    assert fragment in message and message.endswith(f"Received: TF_CONFIG={config!r}")
    assert "\n" not in message


def test_no_tf_config(monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG environment variable, which is not set"):
        make_strategy("multiworker")
