"""What every run writes into its work directory: the resolved config, a CSV history,
TensorBoard logs, checkpoints; and the callbacks that keep them.

Layout of a run directory::

    config.json        the resolved configuration
    history.csv        one row per epoch (appended to when a run resumes)
    logs/              TensorBoard: scalars (train, validation), images (architecture)
    checkpoints/       the last checkpoints (see `checkpointing`)
"""

import json
import os
import pathlib
import sys
import tempfile

import keras
import tensorflow as tf

from egs_keras import search_space
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import checkpointing
from egs_keras.training import strategies


def progress_verbosity():
    """Keras `verbose`: a progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def set_graph_optimizer(enabled):
    """Switches TensorFlow's Grappler graph optimiser on or off for the functions traced from
    now on in this process (search networks start much faster without it; see README)."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})


def prepare_workdir(directory):
    """Creates the work directory and checks that it is writable, before any expensive step;
    returns it as a Path."""
    directory = pathlib.Path(directory)
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


def write_config(config, directory):
    """Writes the resolved config (a ConfigDict or a dict) to `<directory>/config.json`."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    path = directory / "config.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n",
                    encoding="utf-8")
    return path


def start_training_run(config, workdir, genotype, strategy):
    """What a training run does first: (its work directory, checked; the `tf.distribute`
    strategy called `strategy`; the loaded `genotype`), with config.json and genotype.json
    written by the chief (see `strategies.is_chief`)."""
    workdir = prepare_workdir(workdir)
    distribution = strategies.get_strategy(strategy)
    genotype = search_space.load_genotype(genotype)
    if strategies.is_chief(distribution):
        write_config(config, workdir)
        genotype.save(workdir / "genotype.json")
    return workdir, distribution, genotype


def write_results(results, workdir, strategy):
    """Writes `<workdir>/results.json` (on the chief only) and returns `results`."""
    if strategies.is_chief(strategy):
        (pathlib.Path(workdir) / "results.json").write_text(
            json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


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
    callbacks = [run_callbacks.StopOnNonFinite(checkpoint.directory), *state_callbacks,
                 checkpointing.CheckpointCallback(checkpoint)]
    if chief:
        callbacks.append(keras.callbacks.CSVLogger(str(directory / "history.csv"), append=True))
    if chief and tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(directory / "logs")))
    return checkpoint, callbacks
