"""Callbacks of the training recipes, and atomic file writes.

- `ResumableBackup`: Keras' BackupAndRestore with atomic saves;
- `EpochLog`: `history.csv`, each epoch exactly once across resumes;
- `NaNGuard`: stops at the first non-finite loss;
- `Progress`: Keras' progress bar without its `steps_per_execution` overshoot.
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import keras


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose every save is a single atomic file rename.

    Keras writes the weights, then a JSON file with the epoch, both in place:
    a kill during or between those writes leaves a broken or inconsistent
    backup. Here each epoch's weights (optimizer state included) go to a
    temporary file renamed to `epoch-NNNN.weights.h5`; the name is the epoch.
    """

    def __init__(self, backup_dir: str, start_epoch: int = 0):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)
        self.start_epoch = self.initial_epoch = start_epoch

    def on_train_begin(self, logs=None):
        self.model._initial_epoch = None  # Keras keeps it from an earlier fit
        super().on_train_begin(logs)
        if self.latest() is None:
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self._current_epoch = self.start_epoch
            self._save_model()  # the starting point is the first good state

    def latest(self) -> tuple[int, str] | None:
        """The last completed epoch and its weights file, if any."""
        found = sorted(Path(self.backup_dir).glob("epoch-*.weights.h5"))
        if not found:
            return None
        return int(found[-1].name[6:10]), str(found[-1])

    def _load_model(self):
        latest = self.latest()
        if latest is None:
            return
        epoch, path = latest
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(path)
        self.model._initial_epoch = epoch  # as keras' BackupAndRestore does
        self.initial_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        # Keras ends the epoch even when training stops on a NaN loss: such an
        # epoch is never backed up, so the last backup stays the last good model.
        if math.isfinite(float((logs or {}).get("loss", 0.0))):
            super().on_epoch_end(epoch, logs)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        partial = os.path.join(self.backup_dir, f".partial-{os.getpid()}.weights.h5")
        self.model.save_weights(partial, overwrite=True)
        final = os.path.join(self.backup_dir, f"epoch-{self._current_epoch:04d}.weights.h5")
        os.replace(partial, final)
        for old in Path(self.backup_dir).glob("epoch-*.weights.h5"):
            if str(old) != final:
                old.unlink()


class EpochLog(keras.callbacks.Callback):
    """Writes `history.csv`, each epoch exactly once across resumed runs.

    It runs before the backup: a row is on disk before its epoch is backed
    up, and a resumed run drops the rows of the epochs it runs again.
    """

    def __init__(self, path: str, **constants):
        super().__init__()
        self.path, self.constants = path, constants
        self.rows: list[dict] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:  # the first epoch of this run
            self.rows = []
            if os.path.exists(self.path):
                with open(self.path, newline="") as f:
                    self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < epoch]
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **self.constants}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        if self.model is not None:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["seconds"] = round(time.perf_counter() - self.started, 3)
        self.rows.append(row)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        atomic_write(self.path, lambda f: _write_csv(f, columns, self.rows), mode="w")


class Progress(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, which with `steps_per_execution` counts past the
    end of an epoch ("32/29", keras-team/keras#20861): the count is clamped."""

    def _update_progbar(self, batch, logs=None):
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super()._update_progbar(batch, logs)


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.at = (self.epoch, batch)
            self.model.stop_training = True


def _write_csv(f, columns, rows):
    writer = csv.DictWriter(f, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


def atomic_write(path, write, mode="w"):
    """Writes `path` through a temporary file renamed into place."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"The folder to write into does not exist: {folder!r}. Received: path={str(path)!r}")
    tmp = f"{path}.partial-{os.getpid()}"
    with open(tmp, mode, newline="" if "b" not in mode else None) as f:
        write(f)
    os.replace(tmp, path)


def save_model_atomic(model: keras.Model, path: str) -> None:
    """Saves a `.keras` file so that a crash never leaves a broken one."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".partial-{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, path)
