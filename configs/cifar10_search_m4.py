"""CIFAR-10 cell search with M = 4 (paper Table 5 sweeps M = 1..9), otherwise as M = 7.

    egs-search --config=configs/cifar10_search_m4.py --workdir=runs/cifar10_search_m4

Hardware and time: as configs/cifar10_search_m7.py, somewhat faster per step in sparse
execution (fewer active operations per edge).
"""

from egs_keras.training import config as base


def get_config():
    config = base.default_config()
    config.search.num_samples = 4
    return config
