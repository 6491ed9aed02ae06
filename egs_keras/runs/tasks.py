"""The tasks a config can name (`config.task`) and the one place that dispatches on it.

Each task is a module of `egs_keras.runs` with the same parts: `data_sets`, `run_search`,
`run_training`, `count_network`, `rebuild` (its model, to load a checkpoint into), `export`,
`litert_signature` and, for tuning, `OBJECTIVE`, `scoring_run` and `random_genotype`. Adding a
task is one new module and one entry in `TASKS`.

>>> task_of(config).name                       # config.task = "rnn"    # doctest: +SKIP
'rnn'
>>> genotype = run_search(config, "runs/search")                        # doctest: +SKIP
"""

import dataclasses
import types

from egs_keras import _validation
from egs_keras.data import availability
from egs_keras.runs import classification
from egs_keras.runs import language
from egs_keras.runs import segmentation


@dataclasses.dataclass(frozen=True)
class Task:
    """A task's name and its module (see the module docstring for what the module holds)."""

    name: str
    module: types.ModuleType

    @property
    def tunable(self):
        return hasattr(self.module, "scoring_run")

    def __getattr__(self, part):
        return getattr(self.module, part)


TASKS = {task.name: task for task in (
    Task("cnn", classification),
    Task("rnn", language),
    Task("segmentation", segmentation),
)}


def task_of(config):
    """The `Task` a run config names (`config.task`, "cnn" when absent)."""
    name = config.get("task", "cnn")
    if name not in TASKS:
        raise _validation.invalid("config.task", f"one of {list(TASKS)}", name)
    return TASKS[name]


def check_data(config):
    """Raises `availability.DataUnavailableError` at once if a data set a run of `config`
    reads is neither prepared nor downloadable here (before anything is written)."""
    for tfds_name, data_dir in task_of(config).data_sets(config):
        availability.check_available(tfds_name, data_dir)


def run_search(config, workdir, strategy="default"):
    """Runs (or resumes) the search of `config`'s task in `workdir` and returns the derived
    genotype, also written to `<workdir>/genotype.json` with pictures in `<workdir>/cells/`
    (a segmentation config searches its `cell_search`, a CNN search). `strategy`: a name of
    `strategies.STRATEGIES` or a `tf.distribute.Strategy`. (Each task's run holds the
    directory's lock, `records.owns_workdir`.)"""
    check_data(config)
    return task_of(config).run_search(config, workdir, strategy)


def run_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes training) the network of `config`'s task on `genotype` (a
    `Genotype`, a published name such as "darts_v2" or a JSON path) in `workdir`, evaluates
    it and returns its results with the trained "model" (the numbers also go to
    `<workdir>/results.json`): test accuracy for "cnn", perplexities for "rnn", mean IoU
    for "segmentation"."""
    check_data(config)
    return task_of(config).run_training(config, workdir, genotype, strategy)


def count_network(config, genotype):
    """{"parameters", "multiply_adds", "input_shape", ...} of the network `config` would
    train on `genotype`, without training (`egs-count`)."""
    return task_of(config).count_network(config, genotype)


def rebuild(config, genotype, train_dir):
    """(model, state callbacks, extras) of the training run in `train_dir`, for
    `training_runs.load_training_run`."""
    return task_of(config).rebuild(config, genotype, train_dir)


def export(run, base, version, extra_files):
    """Writes the SavedModel of a loaded `TrainingRun` as its task serves it."""
    return task_of(run.config).export(run, base, version, extra_files)


def litert_signature(run):
    """(LiteRT `Signature`, int8 calibration inputs from the training data) of a loaded
    `TrainingRun` (`export.litert`)."""
    return task_of(run.config).litert_signature(run)


def tunable_task_of(config):
    """The `Task` of a config that tuning can score (one with `scoring_run`)."""
    task = task_of(config)
    if not task.tunable:
        names = [name for name, t in TASKS.items() if t.tunable]
        raise _validation.invalid("config.task", f"a task that tuning scores ({names})",
                                  task.name, hint="Tune the cell search of a segmentation "
                                  "config on its config.cell_search.")
    return task
