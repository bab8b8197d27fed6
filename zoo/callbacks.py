"""Callbacks of the training recipes, output folders and atomic file writes.

- `ResumableBackup`: Keras' BackupAndRestore with atomic saves;
- `EpochLog`: `history.csv`, each completed epoch exactly once across resumes;
- `NaNGuard`: stops at the first non-finite loss;
- `Progress`: Keras' progress bar without its `steps_per_execution` overshoot;
- `output_folder`, `check_resumable`, `atomic_write`, `save_model_atomic`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from pathlib import Path

import keras

from zoo._common import last_line, one_line


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
        found = [(int(m.group(1)), str(p)) for p in Path(self.backup_dir).glob("epoch-*.weights.h5")
                 if (m := _BACKUP_NAME.fullmatch(p.name))]
        return max(found) if found else None

    def _load_model(self):
        latest = self.latest()
        if latest is None:
            return
        epoch, path = latest
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(path)
        except Exception as e:  # a truncated or foreign file: h5py's OSError, Keras' ValueError
            raise ValueError(
                f"Cannot resume from the backup {path!r}, which is damaged or from another model "
                f"({type(e).__name__}: {one_line(e, 200)}): delete the output folder's backup/ to start afresh, or use "
                f"another --out. Received: backup={path!r}"
            ) from None
        self.model._initial_epoch = epoch  # as keras' BackupAndRestore does
        self.initial_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        # Keras ends the epoch even when training stops on a NaN loss: such an
        # epoch is never backed up, so the last backup stays the last good model.
        if _finite_loss(logs):
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


_BACKUP_NAME = re.compile(r"epoch-(\d{4,})\.weights\.h5")
# Every name a run's backup folder holds: the epochs' weights and their
# partial writes, and the run's settings (`run.json`, see `check_resumable`)
# with theirs (`atomic_write`).
BACKUP_FILES = re.compile(rf"{_BACKUP_NAME.pattern}|\.partial-\d+\.weights\.h5|run\.json(\.partial-\d+)?")


def _finite_loss(logs) -> bool:
    return math.isfinite(float((logs or {}).get("loss", 0.0)))


class EpochLog(keras.callbacks.Callback):
    """Writes `history.csv`, each completed epoch exactly once across resumed runs.

    It runs before the backup: a row is on disk before its epoch is backed
    up, and a resumed run drops the rows of the epochs it runs again. An
    epoch stopped by a non-finite loss is not completed and gets no row, as
    it gets no backup.
    """

    def __init__(self, path: str, **constants):
        super().__init__()
        self.path, self.constants = path, constants
        self.rows: list[dict] | None = None

    def keep(self, before: int) -> list[dict]:
        """Keeps the rows on disk of the epochs before `before`, drops the rest."""
        self.rows = []
        if os.path.exists(self.path):
            try:
                with open(self.path, newline="") as f:
                    self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < before]
            except (KeyError, TypeError, ValueError, UnicodeDecodeError, csv.Error):
                raise ValueError(
                    f"{self.path!r} is not the history.csv of a run (each row with an integer `epoch`): "
                    f"delete it or use another --out. Received: path={self.path!r}"
                ) from None
            self._write()
        return self.rows

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:  # the first epoch of this run
            self.keep(before=epoch)
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs):
            return
        row = {"epoch": epoch, **self.constants}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        if self.model is not None:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["seconds"] = round(time.perf_counter() - self.started, 3)
        self.rows.append(row)
        self._write()

    def _write(self):
        columns = list(dict.fromkeys(k for r in self.rows for k in r)) or ["epoch"]
        atomic_write(self.path, lambda f: _write_csv(f, columns, self.rows), mode="w")


class Progress(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, which with `steps_per_execution` counts past the
    end of an epoch ("32/29", keras-team/keras#20861): the count is clamped."""

    def _update_progbar(self, batch, logs=None):
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super()._update_progbar(batch, logs)


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where.

    Attributes:
        at: None, or `(epoch, first, last, steps)` (0-based epoch and batches):
            the loss became non-finite in one of the batches `first..last` of
            the epoch's `steps`. With `steps_per_execution` > 1 Keras reports
            the loss once per compiled call, so that is a range; Keras numbers
            the call's last batch as if the epoch were longer, so it is clamped.
    """

    def __init__(self):
        super().__init__()
        self.epoch = self.first = 0
        self.at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.first = batch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            steps = self.params.get("steps")
            last = batch if steps is None else min(batch, steps - 1)
            self.at = (self.epoch, min(self.first, last), last, steps)
            self.model.stop_training = True

    def where(self) -> str:
        """Where the loss became non-finite, in words: `epoch 1, batch 3 of 31`."""
        epoch, first, last, steps = self.at
        batches = f"batch {last + 1}" if first == last else f"batches {first + 1}-{last + 1}"
        return f"epoch {epoch + 1}, {batches}" + (f" of {steps}" if steps else "")


def _write_csv(f, columns, rows):
    writer = csv.DictWriter(f, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


def output_folder(path, *, argument: str = "out", file: bool = False) -> Path:
    """Checks that `path` can be written; creates nothing.

    Args:
        path: A folder to write into, or with `file=True` a file (or a
            SavedModel directory) to write inside its parent folder.
        argument: The argument the path came from, for the message.
        file: Whether `path` itself is the thing written.

    Returns:
        `path`, as a `Path`.

    Raises:
        ValueError: If `path`, or a folder above it, is a file, or the folder
            it would be created in is not writable; the message names `path`.
    """
    path = Path(path)
    received = f"Received: {argument}={str(path)!r}"
    for parent in path.absolute().parents if file else (path, *path.absolute().parents):
        if not parent.exists():
            continue
        if not parent.is_dir():
            if not file and parent == path:
                raise ValueError(f"The output folder {str(path)!r} is a file, not a folder. {received}")
            raise ValueError(f"Cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder. {received}")
        if (file or parent != path) and not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"Cannot write {str(path)!r}: the folder {str(parent)!r} is not writable. {received}")
        return path
    return path


def make_output_folder(path, *, argument: str = "out") -> Path:
    """Creates the output folder `path` (and those above it), or raises one line in words."""
    path = output_folder(path, argument=argument)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"Cannot create the output folder {str(path)!r}: {e.strerror or e}. "
                         f"Received: {argument}={str(path)!r}") from None
    return path


def check_resumable(path, settings: dict, *, folder=None, what: str = "run") -> None:
    """Refuses to resume a run with other settings than it started with; records them.

    Args:
        path: The JSON file holding the settings.
        settings: What must be the same to resume (JSON values).
        folder: The output folder the message names. Defaults to the
            folder of `path`.
        what: `"run"` or `"search"`, for the message.

    Raises:
        ValueError: If `path` holds other settings; the message names the
            first one and how to start afresh.
    """
    path = Path(path)
    folder = path.parent if folder is None else folder
    try:
        previous = json.loads(path.read_text()) if path.exists() else settings
        reason = f"it holds a JSON {type(previous).__name__}"
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError; a folder, an OSError
        previous, reason = None, last_line(str(e.strerror if isinstance(e, OSError) and e.strerror else e))
    if not isinstance(previous, dict):
        raise ValueError(
            f"{str(path)!r} is damaged, not the settings of a {what} ({reason}): delete {str(folder)!r} (or use "
            f"another --out) to start afresh. Received: {path.name}={str(path)!r}"
        )
    for key, value in settings.items():
        if previous.get(key) != value:
            raise ValueError(
                f"{str(folder)!r} holds a {what} with {key}={previous.get(key)!r}: resume it "
                f"with the same settings, or use another --out (or delete that folder) to start afresh. "
                f"Received: {key}={value!r}"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(str(path), lambda f: json.dump(settings, f, indent=2))


def atomic_write(path, write, mode="w"):
    """Writes `path` through a temporary file renamed into place; on failure
    the temporary file is removed and `path` left as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"The folder to write into does not exist: {folder!r}. Received: path={str(path)!r}")
    tmp = f"{path}.partial-{os.getpid()}"
    try:
        with open(tmp, mode, newline="" if "b" not in mode else None) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:  # nothing half-written stays behind
        try:
            os.remove(tmp)
        except OSError:  # never created, or already gone
            pass
        raise


def save_model_atomic(model: keras.Model, path: str) -> None:
    """Saves a `.keras` file so that a crash never leaves a broken one."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".partial-{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, path)
