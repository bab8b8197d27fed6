# Two commands on a fresh machine (Python 3.11 and pip): `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-slow clean

# Stamp files re-run the install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# Trains mnist_convnet on the real MNIST sample shipped in the package, then
# exports it to a full-int8 TFLite file checked against the Keras model.
demo: $(VENV)/.installed
	$(VENV)/bin/zoo train mnist_convnet --dataset mnist:sample --out runs/demo
	$(VENV)/bin/zoo export runs/demo/model.keras --format tflite --quantize int8 --out runs/demo/model_int8.tflite

test: $(VENV)/.installed-test
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(VENV)/.installed-test
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
