"""What every training run shares, whatever its task: its work directory opened (strategy,
config and genotype checked against the directory's records), then `run_loop.run` (build →
restore → fit) with an evaluation that writes `results.json` as its finish; and loading a run
back from its directory (for export, or as a backbone).

A task gives the parts that differ: how to build its model, its batches, what to evaluate
and how to turn the scores into results.

>>> results = train_and_evaluate(config, workdir, genotype, "default", build=build,
...                              data=data, summarize=summarize)   # doctest: +SKIP
"""

import dataclasses
import pathlib
import typing

import ml_collections
import tensorflow as tf

from egs_keras import record_files
from egs_keras import search_space
from egs_keras.training import checkpointing
from egs_keras.training import distributed_loop
from egs_keras.training import run_loop
from egs_keras.training.workdir import Workdir

RESULTS_FILE = "results.json"


@dataclasses.dataclass
class TrainingData:
    """The data of a training run: `steps_per_epoch` (a model's learning-rate schedule needs
    it before the checkpoint says where to start; None for models without one),
    `batches(initial_epoch)` → (training batches from that epoch on, steps per epoch), the
    `validation` batches scored after every epoch, and `evaluations` {name: batches} scored
    at the end."""

    steps_per_epoch: int | None
    batches: typing.Callable
    validation: object
    evaluations: dict


def train_and_evaluate(config, workdir, genotype, strategy, *, build, data, summarize,
                       state_callbacks=None, callbacks=(), after_restore=None):
    """Trains (or resumes training) a run in `workdir` and returns its results with the
    trained "model". `data(workdir)` → `TrainingData` (`workdir` the run's directory, e.g.
    for a vocabulary file); `build(genotype, steps_per_epoch)` → the compiled model (called in
    the strategy's scope); `state_callbacks(model)` → callbacks with checkpointed state (e.g.
    `WeightAveraging`; applied instead of fit when the run had already finished);
    `after_restore(model, initial_epoch)` runs once the checkpoint is restored;
    `summarize(model, {name: scores})` → the results written to `results.json` (by the
    chief). `strategy` is a name of `strategies.STRATEGIES` or a `tf.distribute.Strategy`.
    Grappler is switched on or off for the run as `config.train.graph_optimizer` says (on
    when absent), whatever ran before it in the process.
    """
    graph_optimizer = config.train.get("graph_optimizer", True)
    with Workdir.open(workdir, strategy) as run_dir:
        genotype = run_dir.accept_training(config, genotype)
        run_loop.set_graph_optimizer(graph_optimizer)  # before the data's functions trace
        training = data(run_dir.path)

        def finish(model):
            scores = {name: distributed_loop.evaluate(model, run_dir.strategy, batches)
                      for name, batches in training.evaluations.items()}
            return {**run_dir.write_json(RESULTS_FILE, summarize(model, scores)),
                    "model": model}

        return run_loop.run(
            run_dir, seed=config.seed, graph_optimizer=graph_optimizer, epochs=config.train.epochs,
            build=lambda: build(genotype, training.steps_per_epoch), batches=training.batches,
            validation=training.validation, callbacks=callbacks,
            state_callbacks=state_callbacks, after_restore=after_restore, finish=finish)


class TrainingRun(typing.NamedTuple):
    """A training run loaded from its directory: its `config` (and `config_text`), `genotype`,
    the `model` with the weights of the checkpoint prefix `checkpoint` (state callbacks such
    as NT-ASGD's averages applied) and what else its task rebuilt (`extras`, e.g. a language
    model's vocabulary)."""

    config: ml_collections.ConfigDict
    config_text: str
    genotype: search_space.Genotype
    model: object
    extras: dict | None = None
    checkpoint: str | None = None  # the prefix its weights came from

    @property
    def vocabulary(self):
        """A language model's vocabulary (None for image tasks)."""
        return (self.extras or {}).get("vocabulary")


def load_training_run(train_dir, rebuild, checkpoint=None):
    """Rebuilds the network of the run in `train_dir` and loads its newest checkpoint (or the
    checkpoint prefix `checkpoint`); returns a `TrainingRun`. `rebuild(config, genotype,
    train_dir)` → (model, state callbacks, extras) is the task's part."""
    train_dir = pathlib.Path(train_dir)
    missing = [name for name in ("config.json", "genotype.json")
               if not (train_dir / name).exists()]
    if missing:
        raise ValueError(
            f"Received the run directory {str(train_dir)!r}, expected a training run with "
            f"config.json and genotype.json, but {', '.join(missing)} is missing. Pass the "
            "--workdir of egs-train (or <pipeline workdir>/train).")
    config_text = record_files.read_text(train_dir / "config.json", "the run's configuration")
    config = ml_collections.ConfigDict(
        record_files.read_json(train_dir / "config.json", "the run's configuration"))
    genotype = search_space.Genotype.load(train_dir / "genotype.json")
    model, state, extras = rebuild(config, genotype, train_dir)
    extra = {k: v for callback in state for k, v in callback.trackables().items()}
    run = checkpointing.RunCheckpoint(train_dir / "checkpoints", model, extra=extra,
                                     repair=False)  # a training may still be running
    prefix = checkpoint or run.latest
    if prefix is None:
        raise ValueError(
            f"Found no checkpoint in {run.directory!r}; train first (egs-train), or pass "
            "--checkpoint=<prefix>.")
    try:
        run.checkpoint.restore(str(prefix)).assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError) as error:  # missing, damaged, not a checkpoint
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"Could not load checkpoint {str(prefix)!r}: {first_line}. Expected the prefix "
            f"of a checkpoint of this run, e.g. {str(train_dir / 'checkpoints' / 'ckpt-5')!r} "
            "(the files <prefix>.index and <prefix>.data-*); leave --checkpoint out to use "
            "the newest.") from None
    for callback in state:  # NT-ASGD: serve the averaged weights
        callback.apply()
    return TrainingRun(config, config_text, genotype, model, extras, str(prefix))
