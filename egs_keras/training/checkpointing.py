"""Resumable runs: a TF checkpoint of everything a run needs to continue where it stopped.

`RunCheckpoint` tracks every variable of the model by path (weights, α, the EGS sample
counters, batch-norm statistics, drop-path seed states), its optimizers (both, in a search)
and the number of finished epochs. `restore()` returns the epoch to start from;
`CheckpointCallback` saves after every finite epoch and keeps the last `max_to_keep`.

>>> checkpoint = RunCheckpoint(workdir / "checkpoints", model)   # doctest: +SKIP
>>> initial_epoch = checkpoint.restore()                          # doctest: +SKIP
>>> model.fit(..., initial_epoch=initial_epoch,
...           callbacks=[StopOnNonFinite(), CheckpointCallback(checkpoint)])  # doctest: +SKIP
"""

import pathlib

import keras
import tensorflow as tf

from egs_keras import record_files
from egs_keras.training import callbacks
from egs_keras.training.workdir import checkpoint_files


class RunCheckpoint:
    """The checkpoint of one run in `directory`.

    Args:
        directory: where checkpoints are written.
        model: a compiled Keras model; its `optimizer` (and `arch_optimizer`, if any) are
            built here so their slots exist before a restore.
        max_to_keep: how many recent checkpoints to keep.
        extra: more trackables to save and restore, {name: trackable} (e.g. the state of
            `WeightAveraging`).
        repair: whether this process owns the directory and may set aside damaged
            checkpoints and rewrite the state file (see `checkpoint_files`); False only reads
            (an export next to a running training).
    """

    def __init__(self, directory, model, max_to_keep=2, extra=None, repair=True):
        self.directory = str(directory)
        # Checked before the manager reads the state file: a damaged newest checkpoint or a
        # lost state file must not make the run restart over its own checkpoints.
        self._latest = checkpoint_files.find_intact(directory, repair=repair)
        self.model = model
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="finished_epochs")
        # Keyed by path: TF's object graph does not see layers that Keras keeps in lists and
        # dicts (cells, decisions), whose counters and batch-norm statistics must come back too.
        transient = {id(v) for v in getattr(model, "transient_variables", ())}
        kept = [v for v in model.variables if id(v) not in transient]
        variables = {variable_key(model, v): v for v in kept}
        if len(variables) != len(kept):
            raise ValueError("The model has several variables with the same path; give its "
                             "layers unique names so that checkpoints can tell them apart.")
        trackables = {"model_variables": variables, "epoch": self.epoch, **(extra or {})}
        for name in ("optimizer", "arch_optimizer"):
            optimizer = getattr(model, name, None)
            if optimizer is not None:
                if not optimizer.built:
                    variables = (model.arch_variables if name == "arch_optimizer"
                                 else model.trainable_variables)
                    optimizer.build(variables)
                trackables[name] = optimizer
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep)

    @property
    def latest(self):
        """Path prefix of the newest intact checkpoint (found at construction or saved
        since), or None."""
        return self._latest

    def restore(self):
        """Loads the newest checkpoint if there is one; returns the number of finished epochs
        (0 for a fresh run). `resume_step` is then the number of steps already done in the
        next epoch (0 unless the run was saved mid-epoch, see `save`)."""
        self.resume_step = 0
        if self.latest is None:
            return 0
        self.checkpoint.restore(self.latest).assert_existing_objects_matched()
        marker = pathlib.Path(self.directory) / _MID_EPOCH
        if marker.exists():
            saved = record_files.read_json(marker, "the step a preempted epoch stopped at")
            if saved.get("checkpoint") == pathlib.Path(self.latest).name:
                self.resume_step = int(saved["step"])
        return int(self.epoch.numpy())

    def save(self, finished_epochs, steps_in_epoch=0):
        """Saves after `finished_epochs` epochs and `steps_in_epoch` more steps. A mid-epoch
        save (a preempted multi-worker run) replaces the checkpoint of the last finished epoch
        and records the step in `mid_epoch.json`, so `restore` resumes at that step."""
        self.epoch.assign(finished_epochs)
        path = self._latest = self.manager.save(checkpoint_number=finished_epochs)
        marker = pathlib.Path(self.directory) / _MID_EPOCH
        if steps_in_epoch:
            record_files.write_json(marker, {"checkpoint": pathlib.Path(path).name,
                                             "epoch": int(finished_epochs),
                                             "step": int(steps_in_epoch)})
        elif marker.exists():
            marker.unlink()
        return path


_MID_EPOCH = "mid_epoch.json"


def variable_key(model, variable):
    """The variable's path without the model's own (instance-numbered) name."""
    prefix = model.name + "/"
    return variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path


class CheckpointCallback(keras.callbacks.Callback):
    """Saves a `RunCheckpoint` at the end of every epoch whose loss is finite."""

    def __init__(self, run_checkpoint):
        super().__init__()
        self.run_checkpoint = run_checkpoint

    def on_epoch_end(self, epoch, logs=None):
        if not callbacks.non_finite(logs, self.model):
            self.run_checkpoint.save(epoch + 1)
