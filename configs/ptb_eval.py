"""Language-model evaluation on Penn Treebank (DARTS' `train.py`): 850 units, batch 64, BPTT
35, SGD lr 20 → NT-ASGD, dropouts 0.75 / 0.25 / 0.75 / 0.2 / 0.1, 1600 epochs.

    egs-train --config=configs/ptb_eval.py --workdir=runs/ptb_eval \\
        --genotype=runs/ptb_search/genotype.json        (or --genotype=darts_rnn_v2)

Hardware: one GPU, about 3 days (DARTS). The paper reports 55.3 test perplexity (DARTS V2: 55.7).
Test perplexity is computed with `eval_batch_size` rows (DARTS uses batch 1 for the test set;
the difference is small).
"""

from egs_keras.runs import language


def get_config():
    return language.default_config()
