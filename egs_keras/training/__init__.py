"""Training utilities: temperature schedules, callbacks, checkpoints; the flag-free run
functions live in `search_run`, `train_run`, `export_run` and `pipeline`."""

from egs_keras.training.callbacks import ArchitectureRecorder
from egs_keras.training.callbacks import DropPathScheduler
from egs_keras.training.callbacks import NonFiniteError
from egs_keras.training.callbacks import StopOnNonFinite
from egs_keras.training.checkpointing import CheckpointCallback
from egs_keras.training.checkpointing import RunCheckpoint
from egs_keras.training.temperature import ExponentialAnnealing
from egs_keras.training.temperature import LinearAnnealing
from egs_keras.training.temperature import TemperatureScheduler
