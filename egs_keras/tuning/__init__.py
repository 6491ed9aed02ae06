"""keras-tuner integration: the random-search baseline over the EGS search space."""

from egs_keras.tuning.random_search import RandomGenotypeHyperModel
from egs_keras.tuning.random_search import run_random_search
