"""Transfer to WikiText-2: the PTB cell in a 700-unit language model (DARTS' WikiText-2
settings, otherwise as configs/ptb_eval.py).

    egs-train --config=configs/wikitext2_eval.py --workdir=runs/wt2_eval \\
        --genotype=runs/ptb_search/genotype.json

Data: wiki.train.tokens, wiki.valid.tokens, wiki.test.tokens in <data_dir>/downloads/manual/.
Hardware: one GPU, days. The paper reports 64.2 test perplexity.
"""

from egs_keras.runs import language


def get_config():
    config = language.default_config()
    config.data.name = "egs_wikitext2"
    config.train.units = 700
    config.train.weight_decay = 5e-7
    config.train.state_dropout = 0.15
    return config
