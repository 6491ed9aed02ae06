"""Task-agnostic training machinery: strategies, the multi-worker loop, checkpoints, records
and callbacks, temperature schedules, weight averaging, the sequence every training run
shares (`training_runs`). The runs of each task (search, training, export, the pipeline)
live in `egs_keras.runs`, which uses this package and is never imported by it."""

import importlib
import sys
import warnings

from egs_keras.training.callbacks import ArchitectureRecorder
from egs_keras.training.callbacks import DropPathScheduler
from egs_keras.training.callbacks import NonFiniteError
from egs_keras.training.callbacks import StopOnNonFinite
from egs_keras.training.checkpointing import CheckpointCallback
from egs_keras.training.checkpointing import RunCheckpoint
from egs_keras.training.temperature import ExponentialAnnealing
from egs_keras.training.temperature import LinearAnnealing
from egs_keras.training.temperature import TemperatureScheduler

_MOVED = ("search_run", "train_run", "export_run", "pipeline", "language_runs",
          "segmentation_runs")


def __getattr__(name):
    """The run modules of egs_keras 0.1 (`from egs_keras.training import train_run`), moved to
    `egs_keras.runs`: handed out as aliases (`egs_keras.runs.legacy`) on first use. The one
    reference from this package to `runs`, made at the user's request, never at import."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"egs_keras.training.{name} moved to egs_keras.runs (see its docstring); "
                  "the old name is an alias that a later release removes.",
                  DeprecationWarning, stacklevel=2)
    legacy = importlib.import_module("egs_keras.runs.legacy")
    alias = legacy.module(name)
    sys.modules[alias.__name__] = alias
    globals()[name] = alias
    return alias
