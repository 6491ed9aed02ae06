"""Task-agnostic training machinery: strategies, the multi-worker loop, checkpoints, records
and callbacks, temperature schedules, weight averaging, the sequence every training run
shares (`training_runs`). The runs of each task (search, training, export, the pipeline)
live in `egs_keras.runs`, which uses this package and is never imported by it."""

from egs_keras.training.callbacks import ArchitectureRecorder
from egs_keras.training.callbacks import DropPathScheduler
from egs_keras.training.callbacks import NonFiniteError
from egs_keras.training.callbacks import StopOnNonFinite
from egs_keras.training.checkpointing import CheckpointCallback
from egs_keras.training.checkpointing import RunCheckpoint
from egs_keras.training.temperature import ExponentialAnnealing
from egs_keras.training.temperature import LinearAnnealing
from egs_keras.training.temperature import TemperatureScheduler
