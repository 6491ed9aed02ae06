"""A run's work directory (this package: `Workdir`, and the modules it is made of: the lock,
the acceptance of a config on resume, the checkpoint files): checked and created once, held by
one process while its run lasts, and the one place that says where each record is written.

Layout::

    .lock                held by the process running there (`directory_lock`)
    config.json          the resolved configuration (`run_acceptance` checks it on resume)
    config_changes.json  fields changed on resume (epochs, ...) and from which epoch
    genotype.json        a training run's genotype (its input), a search's (its result)
    history.csv          one row per epoch (appended to when a run resumes)
    logs/                TensorBoard: scalars (train, validation), images (architecture)
    checkpoints/         the last checkpoints (`checkpointing`)
    results.json         a training run's results, written once at its end
    workertemp_<task>_<index>/  the checkpoints of a cluster's other workers

>>> with Workdir.open("runs/search", "default") as workdir:            # doctest: +SKIP
...     workdir.accept_config(config)
...     checkpoint, callbacks = workdir.checkpoint_and_callbacks(model)
"""

import contextlib
import dataclasses
import os
import pathlib
import tempfile

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import record_files
from egs_keras import search_space
from egs_keras import visualize
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import checkpointing
from egs_keras.training import strategies
from egs_keras.training.workdir import directory_lock
from egs_keras.training.workdir import run_acceptance


@dataclasses.dataclass(frozen=True)
class Workdir:
    """The work directory `path` of a run under `strategy` (a `tf.distribute.Strategy`);
    build one with `Workdir.open`."""

    path: pathlib.Path
    strategy: tf.distribute.Strategy

    @classmethod
    @contextlib.contextmanager
    def open(cls, path, strategy="default", name="workdir"):
        """Resolves `strategy` (a name of `strategies.STRATEGIES` or a strategy), checks that
        `path` can be created and written (a clear error naming `name` otherwise) and holds
        this process's directory's lock for the block (`directory_lock`: a second process
        gets `DirectoryBusyError`). A strategy it cannot use is said before anything is
        created."""
        strategy = strategies.get_strategy(strategy)
        workdir = cls(prepare(path, name), strategy)
        with directory_lock.claim(prepare(workdir.own, name)):
            yield workdir

    @property
    def chief(self):
        """Whether this process keeps the run's records (always, but on a cluster's other
        workers)."""
        return strategies.is_chief(self.strategy)

    @property
    def own(self):
        """This process's own directory: `path` on the chief, `workertemp_<task>_<index>`
        inside it on a cluster's other workers (`worker_directory`)."""
        return worker_directory(self.path, self.strategy)

    def accept_config(self, config):
        """Checks `config` against the one the run here started with (`run_acceptance`: a
        change that would mix two runs raises `RunMismatchError` before anything is
        written) and records it (the chief)."""
        run_acceptance.accept_config(config, self.path, write=self.chief)

    def accept_training(self, config, genotype):
        """`accept_config` plus the genotype (a `Genotype`, a published name or a JSON
        path) a training run trains; returns it loaded."""
        genotype = search_space.load_genotype(genotype)
        run_acceptance.accept_training(config, genotype, self.path, write=self.chief)
        return genotype

    def write_genotype(self, genotype):
        """Writes a search's result: `genotype.json` and the cells' pictures in `cells/`
        (the chief)."""
        if self.chief:
            record_files.atomic_write_text(self.path / "genotype.json",
                                           genotype.to_json() + "\n")
            visualize.save_cell_pictures(genotype, self.path / "cells")

    def write_json(self, name, data):
        """Writes `<path>/<name>` atomically (the chief) and returns `data`."""
        if self.chief:
            record_files.write_json(self.path / name, data)
        return data

    def checkpoint_and_callbacks(self, model, tensorboard=True, state_callbacks=()):
        """The run's `RunCheckpoint` of `model` and the callbacks that record the run, in the
        order that keeps the last good checkpoint intact (the non-finite guard first).
        Callbacks with state of their own (`state_callbacks`, e.g. `WeightAveraging`) are
        checkpointed too and run before the checkpoint is written.

        Only the chief keeps the history and TensorBoard logs; every other worker of a
        cluster must still save checkpoints with it (the save is a collective operation),
        into its own directory, and resumes from there."""
        extra = {}
        for callback in state_callbacks:
            extra.update(callback.trackables())
        checkpoint = checkpointing.RunCheckpoint(self.own / "checkpoints", model, extra=extra)
        # The history row before the checkpoint: a crash between the two is reconciled on
        # resume.
        history = [run_callbacks.EpochHistory(self.path / "history.csv")] if self.chief else []
        callbacks = [run_callbacks.StopOnNonFinite(checkpoint.directory), *state_callbacks,
                     *history, checkpointing.CheckpointCallback(checkpoint)]
        if self.chief and tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(self.path / "logs")))
        return checkpoint, callbacks


def prepare(directory, name="workdir"):
    """Creates `directory` and checks that it is writable, before any expensive step;
    returns it as a Path."""
    directory = pathlib.Path(_validation.check_path(name, directory))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # A probe of this process's own: all workers of a cluster check the same directory.
        handle, probe = tempfile.mkstemp(prefix=".write_test_", dir=directory)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"Received {name}={str(directory)!r}, which cannot be written to "
            f"({error.strerror}). Expected a directory this user may create and write; choose "
            "another --workdir.") from None
    return directory


def worker_directory(directory, strategy=None):
    """Where this process keeps its own state in a run `directory`: the directory itself on
    the chief (or without a multi-worker `strategy`), `<directory>/workertemp_<task>_<index>`
    on every other worker of a cluster."""
    directory = pathlib.Path(directory)
    if strategy is None or strategies.is_chief(strategy):
        return directory
    task_type, index = strategies.worker_id(strategy)
    return directory / f"workertemp_{task_type}_{index}"
