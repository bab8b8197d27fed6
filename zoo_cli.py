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
import os
import sys
import tempfile


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
        except BaseException:
            os.dup2(saved, 2)
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
