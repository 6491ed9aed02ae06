"""Export of a finished (or interrupted) training run as a SavedModel: rebuilds the network
from the run's `config.json` and `genotype.json` (and `vocabulary.txt` for a language model),
loads its checkpoint (with NT-ASGD's averaged weights, if averaging had started) and writes
`<export_base>/<version>/`. `egs-export` and `egs-pipeline` call it.

>>> export_training_run("runs/demo/train", "runs/demo/export")   # doctest: +SKIP
"""

import pathlib
import typing

import ml_collections
import tensorflow as tf

from egs_keras import record_files
from egs_keras import search_space
from egs_keras.data import language_modeling
from egs_keras.export import language_model
from egs_keras.export import saved_model
from egs_keras.export import segmentation
from egs_keras.training import checkpointing
from egs_keras.training import directory_lock
from egs_keras.training import language_runs
from egs_keras.training import segmentation_runs
from egs_keras.training import train_run


class TrainingRun(typing.NamedTuple):
    """A training run loaded from its directory: its `config` (and `config_text`), `genotype`,
    the `model` with the checkpoint's weights (NT-ASGD averages applied) and, for a language
    model, its `vocabulary`."""

    config: ml_collections.ConfigDict
    config_text: str
    genotype: search_space.Genotype
    model: object
    vocabulary: object = None


def load_training_run(train_dir, checkpoint=None):
    """Rebuilds the network of the run in `train_dir` and loads its newest checkpoint (or the
    checkpoint prefix `checkpoint`); returns a `TrainingRun`."""
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
    averaging_state, vocabulary = [], None
    if language_runs.is_language_task(config):
        vocabulary = language_modeling.Vocabulary.load(train_dir / "vocabulary.txt")
        model = language_runs.build_language_model(config, genotype, len(vocabulary))
        averaging_state = language_runs.state_callbacks(config, model)
    elif segmentation_runs.is_segmentation_task(config):
        model = segmentation_runs.build_segmentation_model(config, genotype, steps_per_epoch=1)
    else:
        model = train_run.build_evaluation_model(config, genotype, steps_per_epoch=1)
    extra = {k: v for callback in averaging_state for k, v in callback.trackables().items()}
    run = checkpointing.RunCheckpoint(train_dir / "checkpoints", model, extra=extra,
                                     repair=False)  # a training may still be running
    prefix = checkpoint or run.latest
    if prefix is None:
        raise ValueError(
            f"Found no checkpoint in {run.directory!r}; train first (egs-train), or pass "
            "--checkpoint=<prefix>.")
    try:
        run.checkpoint.restore(str(prefix)).assert_existing_objects_matched()
    except (tf.errors.NotFoundError, ValueError) as error:
        raise ValueError(f"Could not load checkpoint {str(prefix)!r}: {error}") from None
    for callback in averaging_state:  # NT-ASGD: serve the averaged weights
        callback.apply()
    return TrainingRun(config, config_text, genotype, model, vocabulary)


def export_training_run(train_dir, export_base=None, version=None, checkpoint=None):
    """Exports the run in `train_dir` (default base: `<train_dir>/../export`); `checkpoint`
    selects a checkpoint prefix instead of the newest one. Returns the version directory."""
    base = pathlib.Path(export_base) if export_base else pathlib.Path(train_dir).parent / "export"
    with directory_lock.claim(base):  # two exports into one base would race for a version
        return _export(load_training_run(train_dir, checkpoint), base, version)


def _export(run, base, version):
    extra_files = {"genotype.json": run.genotype.to_json() + "\n",
                   "config.json": run.config_text}
    if run.vocabulary is not None:
        return language_model.export_language_model(run.model, base, version, run.vocabulary,
                                                    extra_files)
    if segmentation_runs.is_segmentation_task(run.config):
        return segmentation.export_segmenter(
            run.model, base, run.config.data.name, version, extra_files=extra_files,
            warmup_size=segmentation_runs.sizes(run.config)[1])
    return saved_model.export_classifier(run.model, base, run.config.data.name, version,
                                         extra_files=extra_files)
