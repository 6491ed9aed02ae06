"""Keras callbacks of the search and training runs: drop-path schedule, non-finite guard,
architecture records (genotype per epoch, α heat-map and cell pictures in TensorBoard).

>>> callbacks = [DropPathScheduler(final_rate=0.2, epochs=600), StopOnNonFinite()]
"""

import csv
import io
import math
import os
import pathlib

import keras
import numpy as np

from egs_keras import _validation
from egs_keras import record_files
from egs_keras import visualize
from egs_keras.training.workdir import checkpoint_files


class NonFiniteError(RuntimeError):
    """Raised when the loss or the architecture logits stop being finite."""


class DropPathScheduler(keras.callbacks.Callback):
    """Raises the model's `drop_path_rate` linearly from 0 to `final_rate` over `epochs`
    (DARTS: rate · epoch / epochs, set at the start of each epoch; correct after a resume).
    """

    def __init__(self, final_rate, epochs):
        super().__init__()
        self.final_rate = _validation.check_rate("final_rate", final_rate)
        self.epochs = _validation.check_positive_int("epochs", epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.drop_path_rate.assign(self.final_rate * epoch / self.epochs)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["drop_path_rate"] = float(keras.ops.convert_to_numpy(self.model.drop_path_rate))


def non_finite(logs, model):
    """What is NaN or Inf after a step or an epoch: a loss in `logs` (keys ending in "loss")
    or `model`'s architecture logits; None if all are finite.

    >>> non_finite({"loss": float("nan")}, keras.Sequential())
    'the loss is nan'
    """
    for name, value in (logs or {}).items():
        if name.endswith("loss") and not math.isfinite(float(value)):
            return f"the {name.replace('_', ' ')} is {float(value)}"
    for variable in getattr(model, "arch_variables", ()):
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable))):
            return f"the architecture logits `{variable.path}` hold NaN or Inf"
    return None


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training with `NonFiniteError` as soon as the loss, or the architecture logits of
    a search network, hold NaN or Inf. Checkpoints are written only at the end of a finite
    epoch, so the last good one stays intact; the message says where it is.

    Args:
        checkpoint_directory: named in the error message, if given.
    """

    def __init__(self, checkpoint_directory=None):
        super().__init__()
        self.checkpoint_directory = checkpoint_directory
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        what = non_finite(logs, self.model)
        if what:
            self._stop(what, batch)

    def _stop(self, what, batch):
        where = ""
        if self.checkpoint_directory:
            # Read, not trusted from the state file: the message says the checkpoint is intact.
            saved = checkpoint_files.find_intact(self.checkpoint_directory)
            where = (f" The last good checkpoint, {saved!r}, is intact; the same command "
                     "resumes from it." if saved else
                     " No checkpoint had been written yet (no epoch finished), so the same "
                     "command starts the run again from the beginning.")
        raise NonFiniteError(
            f"Training stopped at epoch {self._epoch + 1}, batch {batch + 1}: {what}.{where} "
            "Lower the learning rate (or the architecture learning rate), or check the data "
            "for NaN values.")


class ArchitectureRecorder(keras.callbacks.Callback):
    """After each epoch of a search, writes the derived genotype to
    `<directory>/genotypes/epoch_<n>.json` and, with `log_dir`, the α heat-map and the pictures
    of the derived cells as TensorBoard images.

    Args:
        directory: where the per-epoch genotypes go.
        log_dir: TensorBoard directory (images go to its `architecture` run), or None.
        derivation: keyword arguments of `model.genotype()` (strategy, seed, edges_per_node).
        cost: optional (log name, function of a genotype): its value for the epoch's genotype
            joins the epoch's logs (history, TensorBoard), e.g. the derived cells' latency.
            Callbacks that write logs must come after this one.
    """

    def __init__(self, directory, log_dir=None, derivation=None, cost=None):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.log_dir = log_dir
        self.derivation = dict(derivation or {})
        self.cost = cost

    def on_epoch_end(self, epoch, logs=None):
        genotype = self.model.genotype(**self.derivation)
        if self.cost is not None and logs is not None:
            name, function = self.cost
            logs[name] = float(function(genotype))
        folder = self.directory / "genotypes"
        folder.mkdir(parents=True, exist_ok=True)
        record_files.atomic_write_text(folder / f"epoch_{epoch + 1:04d}.json",
                                       genotype.to_json() + "\n")
        if self.log_dir is None:
            return
        probabilities = {name: np.asarray(p) for name, p in self.model.probabilities().items()}
        images = {"alpha_heatmap": visualize.alpha_heatmap_png(probabilities,
                                                               self.model.primitives)}
        for cell in genotype.cells:
            images[f"cell_{cell}"] = visualize.cell_png(genotype, cell)
        visualize.write_tensorboard_images(pathlib.Path(self.log_dir) / "architecture",
                                           epoch + 1, images)


class EpochHistory(keras.callbacks.Callback):
    """Appends one CSV row per epoch to `path` (the columns of `keras.callbacks.CSVLogger`:
    "epoch", then the log names in sorted order), each row flushed to disk before the
    callbacks after it (put the checkpoint after it) run.

    A run killed between its history row and its checkpoint resumes from the previous
    checkpoint; so at the first epoch of every fit, rows of that epoch or later, and a line
    cut short by a crash, are removed: every epoch appears once, as its checkpoint has it.
    """

    def __init__(self, path):
        super().__init__()
        self.path = pathlib.Path(path)
        self._columns = None
        self._reconciled = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._reconciled:
            self._columns = reconcile_history(self.path, epoch)
            self._reconciled = True

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        rows = []
        if self._columns is None:
            self._columns = ["epoch", *sorted(logs)]
            rows.append(self._columns)
        rows.append([epoch] + [_csv_value(logs.get(name, "NA")) for name in self._columns[1:]])
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        with self.path.open("a", encoding="utf-8", newline="") as file:
            file.write(buffer.getvalue())
            file.flush()
            os.fsync(file.fileno())


def reconcile_history(path, first_epoch):
    """Keeps in the history CSV `path` only complete rows of epochs before `first_epoch`;
    returns its columns (None if it has no complete header)."""
    path = pathlib.Path(path)
    if not path.exists():
        return None
    text = record_files.read_text(path, "the run's history, one row per epoch")
    complete = text[:text.rfind("\n") + 1]  # a line without its newline was cut short
    rows = list(csv.reader(io.StringIO(complete)))
    if not rows or not rows[0] or rows[0][0] != "epoch":
        kept, columns = [], None
    else:
        columns = rows[0]
        kept = [columns] + [row for row in rows[1:] if len(row) == len(columns)
                            and row[0].isdigit() and int(row[0]) < first_epoch]
    if len(kept) != len(rows) or complete != text:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        record_files.atomic_write_text(path, buffer.getvalue())
    return columns


def _csv_value(value):
    if isinstance(value, str):
        return value
    array = np.asarray(keras.ops.convert_to_numpy(value))
    return array.item() if array.size == 1 else str(array.tolist())
