"""Entry point of the `zoo` console script.

It lives outside the `zoo` package because `import zoo` imports TensorFlow,
which logs CUDA probes and CPU notes to stderr before any log level applies.
Here, before that import (and TensorFlow's own, on another Keras backend),
those lines are held back, so the terminal shows the command's own output
and errors; if the import fails, they are printed.
A `TF_CPP_MIN_LOG_LEVEL` set by the user is kept.
"""

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
    return run()


if __name__ == "__main__":
    sys.exit(main())
