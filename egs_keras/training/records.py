"""What every run writes into its work directory: the resolved config, a CSV history,
TensorBoard logs, checkpoints; and the callbacks that keep them.

Layout of a run directory::

    .lock              held by the process running there (see `directory_lock`)
    config.json        the resolved configuration (`run_acceptance` checks it on resume)
    config_changes.json  fields changed on resume (epochs, ...) and from which epoch
    history.csv        one row per epoch (appended to when a run resumes)
    logs/              TensorBoard: scalars (train, validation), images (architecture)
    checkpoints/       the last checkpoints (see `checkpointing`)
"""

import functools
import inspect
import os
import pathlib
import sys
import tempfile

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import record_files
from egs_keras import search_space
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import checkpointing
from egs_keras.training import directory_lock
from egs_keras.training import run_acceptance
from egs_keras.training import strategies


def progress_verbosity():
    """Keras `verbose`: a progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def set_graph_optimizer(enabled):
    """Switches TensorFlow's Grappler graph optimiser on or off for the functions traced from
    now on in this process (search networks start much faster without it; see
    docs/benchmarks.md)."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})


def prepare_workdir(directory):
    """Creates the work directory and checks that it is writable, before any expensive step;
    returns it as a Path."""
    directory = pathlib.Path(_validation.check_path("workdir", directory))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # A probe of this process's own: all workers of a cluster check the same directory.
        handle, probe = tempfile.mkstemp(prefix=".write_test_", dir=directory)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"Received workdir={str(directory)!r}, which cannot be written to "
            f"({error.strerror}). Expected a directory this user may create and write; choose "
            "another --workdir.") from None
    return directory


def write_config(config, directory, write=True):
    """Records the resolved config (a ConfigDict or a dict) in `<directory>/config.json`,
    after checking it against the one a run there started with (`run_acceptance`: a change
    that would mix two runs raises `RunMismatchError` before anything is written). `write`
    False only checks (the other workers of a cluster). Returns the file's path."""
    directory = pathlib.Path(directory)
    run_acceptance.accept_config(config, directory, write=write)
    return directory / "config.json"


def start_training_run(config, workdir, genotype, strategy):
    """What a training run does first: (its work directory, checked; the `tf.distribute`
    strategy `strategy` names, or is; the loaded `genotype`), with config and genotype checked
    against the directory's records and written by the chief (see `strategies.is_chief`)."""
    workdir = prepare_workdir(workdir)
    strategy = strategies.get_strategy(strategy)
    genotype = search_space.load_genotype(genotype)
    run_acceptance.accept_training(config, genotype, workdir, write=strategies.is_chief(strategy))
    return workdir, strategy, genotype


def write_results(results, workdir, strategy=None):
    """Writes `<workdir>/results.json` atomically (on the chief only) and returns `results`."""
    if strategy is None or strategies.is_chief(strategy):
        record_files.write_json(pathlib.Path(workdir) / "results.json", results)
    return results


def owns_workdir(run):
    """Decorates a run function `run(config, workdir, ..., strategy=...)` so that it holds
    the lock of its part of `workdir` while it runs (`directory_lock`: the directory itself,
    or `workertemp_<task>_<index>` on a cluster's other workers, see `worker_directory`);
    a second process on the same directory gets `DirectoryBusyError`. (A tuner's
    `directory` argument is its work directory.)"""
    signature = inspect.signature(run)
    name = "workdir" if "workdir" in signature.parameters else "directory"

    @functools.wraps(run)
    def locked(*args, **kwargs):
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        strategy = arguments.arguments.get("strategy", "default")
        if strategy == "multi_worker":  # only there do workers have directories of their own
            try:
                strategy = strategies.get_strategy(strategy)
            except ValueError:  # the run explains a strategy it cannot use, in its terms
                return run(*args, **kwargs)
        elif isinstance(strategy, str):
            strategy = None
        # Checked first: an unwritable directory gets its clear error, not the lock's.
        _validation.check_path(name, arguments.arguments[name])
        directory = prepare_workdir(worker_directory(arguments.arguments[name], strategy))
        with directory_lock.claim(directory):
            return run(*args, **kwargs)

    return locked


def worker_directory(directory, strategy=None):
    """Where this process keeps its own state in a run `directory`: the directory itself on
    the chief (or without a multi-worker `strategy`), `<directory>/workertemp_<task>_<index>`
    on every other worker of a cluster."""
    directory = pathlib.Path(directory)
    if strategy is None or strategies.is_chief(strategy):
        return directory
    task_type, index = strategies.worker_id(strategy)
    return directory / f"workertemp_{task_type}_{index}"


def run_callbacks_for(directory, model, tensorboard=True, state_callbacks=(), strategy=None):
    """The checkpoint of a run in `directory` and the callbacks that record it, in the order
    that keeps the last good checkpoint intact (the non-finite guard first). Callbacks with
    state of their own (`state_callbacks`, e.g. `WeightAveraging`) are checkpointed too and
    run before the checkpoint is written.

    Under a multi-worker `strategy` only the chief keeps the records (history, TensorBoard)
    in `directory`; every other worker must still save checkpoints with it (the save is a
    collective operation), into `<directory>/workertemp_<task>_<index>/checkpoints`, and
    resumes from there."""
    chief = strategy is None or strategies.is_chief(strategy)
    directory = worker_directory(directory, strategy)
    extra = {}
    for callback in state_callbacks:
        extra.update(callback.trackables())
    checkpoint = checkpointing.RunCheckpoint(directory / "checkpoints", model, extra=extra)
    # The history row before the checkpoint: a crash between the two is reconciled on resume.
    history = [run_callbacks.EpochHistory(directory / "history.csv")] if chief else []
    callbacks = [run_callbacks.StopOnNonFinite(checkpoint.directory), *state_callbacks,
                 *history, checkpointing.CheckpointCallback(checkpoint)]
    if chief and tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(directory / "logs")))
    return checkpoint, callbacks
