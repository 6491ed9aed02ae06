"""The run modules' names before `egs_keras.runs` (egs_keras 0.1: `egs_keras.training.
search_run`, `train_run`, `export_run`, `pipeline`, `language_runs`, `segmentation_runs`),
kept as aliases of their new homes so that code written for them keeps working.
`egs_keras.training` hands them out on first use, with a DeprecationWarning.

>>> from egs_keras.training import train_run   # doctest: +SKIP
>>> train_run.run_training is egs_keras.runs.run_training   # doctest: +SKIP
True
"""

import types

from egs_keras import losses
from egs_keras.runs import classification
from egs_keras.runs import export
from egs_keras.runs import language
from egs_keras.runs import pipeline
from egs_keras.runs import segmentation
from egs_keras.runs import tasks
from egs_keras.training import training_runs


def _is_task(name):
    return lambda config: tasks.task_of(config).name == name


_ALIASES = {
    "search_run": {"run_search": tasks.run_search,
                   "build_search_model": classification.build_search_model},
    "train_run": {
        "run_training": tasks.run_training,
        "count_evaluation_network": tasks.count_network,
        "build_evaluation_model": classification.build_evaluation_model,
        "learning_rate_schedule": classification.learning_rate_schedule,
        "SparseCategoricalCrossentropyWithSmoothing":
            losses.SparseCategoricalCrossentropyWithSmoothing},
    "export_run": {"TrainingRun": training_runs.TrainingRun,
                   "load_training_run": export.load_training_run,
                   "export_training_run": export.export_training_run},
    "pipeline": {"run_pipeline": pipeline.run_pipeline},
    "language_runs": {
        "run_language_search": language.run_search,
        "run_language_training": language.run_training,
        "build_language_search_model": language.build_search_model,
        "build_language_model": language.build_language_model,
        "load_corpus": language.load_corpus, "state_callbacks": language.state_callbacks,
        "is_language_task": _is_task("rnn")},
    "segmentation_runs": {
        "run_segmentation_training": segmentation.run_training,
        "build_segmentation_model": segmentation.build_segmentation_model,
        "count_segmentation_network": segmentation.count_network,
        "initialize_backbone": segmentation.initialize_backbone, "sizes": segmentation.sizes,
        "is_segmentation_task": _is_task("segmentation")},
}

def module(name):
    """The alias module of the old module `egs_keras.training.<name>`."""
    alias = types.ModuleType(f"egs_keras.training.{name}",
                             f"Deprecated alias; see `egs_keras.runs` ({__name__}).")
    alias.__dict__.update(_ALIASES[name])
    return alias
