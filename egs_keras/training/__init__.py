"""Training utilities: temperature schedules and callbacks."""

from egs_keras.training.temperature import ExponentialAnnealing
from egs_keras.training.temperature import LinearAnnealing
from egs_keras.training.temperature import TemperatureScheduler
