"""CIFAR-10 cell search as in the paper: M = 7, 8 cells, 16 filters, 50 epochs, joint.

    egs-search --config=configs/cifar10_search_m7.py --workdir=runs/cifar10_search_m7

Hardware: the paper reports 1 GPU-day for the search (Table 1, DARTS-EGS M = 7). On the
2-core CPU of the development machine one step of batch 32 takes about 2-3 s (README
benchmark), i.e. days per epoch: use a GPU. Expected: a cell whose evaluation network
(configs/cifar10_eval.py) reaches about 2.79 % test error (paper, 2.9M parameters).
"""

from egs_keras.training import config as base


def get_config():
    return base.default_config()
