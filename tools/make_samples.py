"""Writes the small real-image samples shipped in zoo/samples/.

The samples back `--dataset mnist:sample` and `cifar10:sample`: the offline
demo and the tests. They are the leading records of the official files (as
laid out in ../shared/data), stored as compressed NumPy archives that load
without pickle.

Run from the repository root:

    python tools/make_samples.py ../shared/data
"""

import sys

import numpy as np

from zoo.data import SAMPLES_DIR, read_raw

# Records kept per split: enough to train a recognisable model in seconds.
SIZES = {"mnist": (4000, 1000), "cifar10": (1000, 200)}

if __name__ == "__main__":
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    for name, (n_train, n_test) in SIZES.items():
        raw = read_raw(name, data_dir)
        if raw is None:
            sys.exit(f"make_samples: no official {name} files under {data_dir!r}")
        (x_train, y_train), (x_test, y_test), class_names = raw
        path = SAMPLES_DIR / f"{name}.npz"
        np.savez_compressed(
            path,
            x_train=x_train[:n_train], y_train=y_train[:n_train],
            x_test=x_test[:n_test], y_test=y_test[:n_test],
            class_names=np.array(class_names),
        )
        print(f"{path}: {n_train} train and {n_test} test images, {path.stat().st_size:,} bytes")
