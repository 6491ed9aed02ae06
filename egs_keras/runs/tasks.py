"""The tasks a config can name (`config.task`) and the one place that dispatches on it.

Each task module of `egs_keras.runs` ends with one `Task` value (`task_contract`): its
name, defaults, checks, data sets, search, training, counts, rebuild, export, LiteRT
signature and, to be tunable, its `Tuning` hooks. Adding a task is one new module and one
entry in `TASKS`. Configs naming a task by an earlier id ("cnn", "rnn") still load.

>>> task_of(config).name                       # config.task = "rnn"    # doctest: +SKIP
'language'
>>> genotype = run_search(config, "runs/search")                        # doctest: +SKIP
"""

from egs_keras import _validation
from egs_keras.data import availability
from egs_keras.runs import classification
from egs_keras.runs import language
from egs_keras.runs import segmentation
from egs_keras.training import config as run_config

TASKS = {task.name: task for task in (
    classification.TASK,
    language.TASK,
    segmentation.TASK,
)}
DEFAULT_TASK = "classification"  # a config without `task` (saved before the field existed)


def task_of(config):
    """The `Task` a run config names (`config.task`: a name or an alias; "classification"
    when absent)."""
    name = config.get("task", DEFAULT_TASK)
    aliases = {alias: task for task in TASKS.values() for alias in task.aliases}
    if name not in TASKS and name not in aliases:
        raise _validation.invalid("config.task", f"one of {list(TASKS)}", name,
                                  hint=f"Earlier ids still name their tasks: {sorted(aliases)}.")
    return TASKS.get(name) or aliases[name]


def default_config(task=DEFAULT_TASK):
    """The defaults of `task` (a name or an alias): every field its runs read.

    >>> default_config("language").search.num_samples
    4
    """
    return task_of({"task": task}).default_config()


def validate_config(config):
    """Checks `config` (the shared fields, then its task's); returns it or raises a
    ValueError naming the field, the value and what was expected."""
    task = task_of(config)
    run_config.check_shared(config)
    return task.validate(config)


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
    directory's lock, `training.workdir.Workdir`.)"""
    check_data(config)
    return task_of(config).search(config, workdir, strategy)


def run_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes training) the network of `config`'s task on `genotype` (a
    `Genotype`, a published name such as "darts_v2" or a JSON path) in `workdir`, evaluates
    it and returns its results with the trained "model" (the numbers also go to
    `<workdir>/results.json`): test accuracy for "classification", perplexities for
    "language", mean IoU for "segmentation"."""
    check_data(config)
    return task_of(config).train(config, workdir, genotype, strategy)


def count_network(config, genotype):
    """{"parameters", "multiply_adds", "input_shape", ...} of the network `config` would
    train on `genotype`, without training (`egs-count`)."""
    task = task_of(config)
    if task.count is None:
        raise _validation.invalid(
            "config.task", f"a task that counts its network without data "
            f"({[name for name, t in TASKS.items() if t.count]})", task.name,
            hint="A language model's size depends on its vocabulary: train it (egs-train) and "
                 "read `parameters` in results.json.")
    return task.count(config, genotype)


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


def tuning_of(config):
    """The `Tuning` hooks of a config's task (one that tuning can score)."""
    task = task_of(config)
    if task.tuning is None:
        names = [name for name, t in TASKS.items() if t.tuning]
        raise _validation.invalid("config.task", f"a task that tuning scores ({names})",
                                  task.name, hint="Tune the cell search of a segmentation "
                                  "config on its config.cell_search.")
    return task.tuning
