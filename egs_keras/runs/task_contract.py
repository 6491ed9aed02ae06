"""What a task is: the `Task` value each task module of `egs_keras.runs` ends with, and the
`Tuning` hooks of a task that tuning can score.

A task names its config (`config.task`), gives its defaults and checks, says which data sets
its runs read, and runs, counts, rebuilds and exports its networks. `runs.tasks` registers
the three tasks and is the one place that dispatches on a config's task. A new task is one
module that ends with `TASK = Task(...)` and one entry in `tasks.TASKS`:

>>> TASK = Task(                                                          # doctest: +SKIP
...     name="detection", default_config=default_config, validate=validate_config,
...     data_sets=data_sets, search=run_search, train=run_training, rebuild=rebuild,
...     export=export, litert_signature=litert_signature, count=count_network)
"""

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Tuning:
    """How tuning scores a task's architectures (`egs_keras.tuning`).

    Attributes:
        objective: (metric, "max" or "min") the tuner optimises, e.g. ("val_accuracy", "max").
        scoring_run: `(config, epochs) -> (batches, steps, validation, build)`: the data and
            a model builder `build(genotype)` of a short training run that scores a genotype.
        random_genotype: `(config, seed) -> Genotype`: an architecture of the task's search
            space drawn uniformly (random search's candidates and baselines).
    """

    objective: tuple
    scoring_run: Callable
    random_genotype: Callable


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of `egs_keras.runs`.

    Attributes:
        name: what `config.task` says ("classification", "language", "segmentation").
        default_config: `() -> ConfigDict`, every field of the task's configs with its default.
        validate: `(config) -> config`, checks the task's own fields (raises ValueError naming
            the field); the shared fields are `training.config.check_shared`'s.
        data_sets: `(config) -> [(TFDS builder, data_dir)]` that a run of `config` reads.
        search: `(config, workdir, strategy) -> Genotype`, runs or resumes the search.
        train: `(config, workdir, genotype, strategy) -> results`, trains, evaluates, writes
            `results.json`.
        rebuild: `(config, genotype, train_dir) -> (model, state callbacks, extras)`, the
            trained model to load a checkpoint into.
        export: `(run, base, version, extra_files) -> path`, the SavedModel of a loaded run.
        litert_signature: `(run) -> (Signature, calibration inputs)` for LiteRT files.
        count: `(config, genotype) -> {"parameters", ...}` without training, or None if the
            task cannot count without its data.
        tuning: the task's `Tuning` hooks, or None if tuning cannot score it.
        aliases: other names configs may give the task (ids of earlier versions).
    """

    name: str
    default_config: Callable
    validate: Callable
    data_sets: Callable
    search: Callable
    train: Callable
    rebuild: Callable
    export: Callable
    litert_signature: Callable
    count: Callable | None = None
    tuning: Tuning | None = None
    aliases: tuple = ()
