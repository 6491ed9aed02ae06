"""keras-tuner integration: the random-search baseline over the EGS space, a tuner of the EGS
settings whose trials are searches, multi-seed selection and the searched-versus-random
comparison."""

from egs_keras.tuning.random_search import RandomGenotypeHyperModel
from egs_keras.tuning.random_search import run_random_search
from egs_keras.tuning.seeds import compare_with_random
from egs_keras.tuning.seeds import run_multi_seed
from egs_keras.tuning.settings_tuner import EGSSettingsTuner
from egs_keras.tuning.settings_tuner import run_settings_search
