"""Recurrent demo: search a recurrent cell and train its language model on the generated
`egs_sentences` corpus (no files, no network), on a laptop CPU.

    egs-pipeline --config=configs/rnn_demo.py --workdir=runs/rnn_demo

Hardware: 2 CPU cores. Time: about a minute. Search: 6-node cell (2 searched nodes), 32
units, M = 4, 8 epochs at SGD lr 10; training: 48 units, 12 epochs with NT-ASGD. Expected: test
perplexity near 6 against about 23 for the unigram model of the training text.
"""

from egs_keras.runs import language


def get_config():
    config = language.default_config()
    config.data.name = "egs_sentences"
    for section in (config.search, config.train):
        section.batch_size = 16
        section.eval_batch_size = 16
        section.bptt = 20
        section.output_dropout = 0.1
        section.state_dropout = 0.05
        section.cell_input_dropout = 0.1
        section.input_dropout = 0.05
        section.embedding_dropout = 0.0
    config.search.epochs = 8
    config.search.units = 32
    config.search.num_nodes = 6
    config.search.temperature_start = 3.0
    config.search.learning_rate = 10.0  # 20 (DARTS) diverges now and then on this tiny net
    config.train.epochs = 12
    config.train.units = 48
    config.train.averaging_patience = 2
    return config
