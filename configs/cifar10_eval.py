"""CIFAR-10 evaluation: 20 cells, 36 filters, 600 epochs, batch 96, cutout 16, drop-path 0.2,
auxiliary weight 0.4 (the paper's and DARTS' settings).

    egs-train --config=configs/cifar10_eval.py --workdir=runs/cifar10_eval \
        --genotype=runs/cifar10_search_m7/genotype.json

Weight decay 3e-4 is coupled into the gradient (L2, as DARTS); cosine learning rate from
0.025. Hardware: about 1.5 GPU-days on one modern GPU; not practical on the 2-core CPU. The
paper reports 2.79 % test error for its M = 7 cell (2.9M parameters), not reproduced here;
`--genotype=darts_v2` trains DARTS' published cell for comparison (2.76 % in the DARTS
paper; 3.3M parameters, which `egs-count` reproduces).
"""

from egs_keras.runs import classification


def get_config():
    return classification.default_config()
