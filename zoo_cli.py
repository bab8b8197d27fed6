"""Entry point of the `zoo` console script.

It lives outside the `zoo` package because `import zoo` imports TensorFlow,
which logs CUDA probes and CPU notes to stderr before any log level applies.
Here, before that import (and TensorFlow's own, on another Keras backend),
those lines are held back, so the terminal shows the command's own output
and errors; if the import fails, they are printed.
A `TF_CPP_MIN_LOG_LEVEL` set by the user is kept.

The objects of those imports, and those left when the command ends, are
frozen out of the garbage collector's walks (`gc.freeze`), which otherwise
cost a `zoo train` a second on exit.
"""

import gc
import importlib.util
import json
import os
import sys
import tempfile

# Keras' backends: what each imports, and what to install for it.
BACKENDS = {
    "tensorflow": (("tensorflow",), "tensorflow"),
    "jax": (("jax", "jaxlib"), "jax"),
    "torch": (("torch",), "torch"),
    "numpy": (("numpy",), "numpy"),
    "openvino": (("openvino",), "openvino"),
}


def _configured_backend() -> tuple[str, str]:
    """The Keras backend asked for, and where, as Keras reads it: `KERAS_BACKEND`, else keras.json."""
    if os.environ.get("KERAS_BACKEND"):
        backend = os.environ["KERAS_BACKEND"]
        return backend, f"KERAS_BACKEND={backend!r}"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    try:
        with open(path) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    if isinstance(backend, str) and backend:
        return backend, f"backend={backend!r} in {path}"
    return "tensorflow", "KERAS_BACKEND=None"


def backend_error(error: BaseException) -> str | None:
    """A one-line error when importing Keras failed for want of its backend
    (`KERAS_BACKEND=jax` where jax is not installed), else None."""
    backend, received = _configured_backend()
    others = "(or choose another backend with KERAS_BACKEND: tensorflow, jax or torch)"
    if backend not in BACKENDS:
        if isinstance(error, ValueError) and "Unable to import backend" in str(error):
            return f"zoo: error: Unknown Keras backend: expected tensorflow, jax or torch. Received: {received}"
        return None
    modules, package = BACKENDS[backend]
    if not isinstance(error, ModuleNotFoundError) or (error.name or "").split(".")[0] not in modules:
        return None
    return f"zoo: error: Keras' {backend} backend is not installed: pip install {package} {others}. Received: {received}"


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            from zoo.cli import main as run

            # On another Keras backend TensorFlow (the zoo's data pipelines
            # and exports) is imported later, its start-up lines unheld.
            if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
                import tensorflow  # noqa: F401
        except BaseException as error:
            os.dup2(saved, 2)
            message = backend_error(error)
            if message is not None:  # a setup to fix, not a defect: one line, without the held logging
                print(message, file=sys.stderr)
                return 1
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    # TensorFlow leaves a few million objects that live as long as the
    # process, which each full collection walks again, and the interpreter's
    # last collections at exit too. Frozen (moved out of the collector's
    # view), they are walked by neither: `zoo train mnist_convnet` on the
    # shared MNIST subset ends 1.2 s sooner on a 2-core Zen 5 (10.5 against
    # 11.7 s, 3 runs each), 1.0 s of it at exit. Objects are still freed
    # by reference counting, and atexit handlers still run.
    gc.freeze()
    code = run()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
