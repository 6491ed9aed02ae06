"""Smoke test: every stage for one epoch on the bundled digits, in about a minute.

    egs-pipeline --config=configs/smoke.py --workdir=/tmp/egs_smoke

Used by the tests and by `bazel run`; its numbers mean nothing.
"""

from egs_keras.runs import classification


def get_config():
    config = classification.default_config()
    config.data.name = "egs_digits"
    config.data.image_size = 8

    config.search.epochs = 1
    config.search.batch_size = 64
    config.search.filters = 4
    config.search.num_cells = 2
    config.search.num_nodes = 4
    config.search.num_samples = 2
    config.search.graph_optimizer = False
    config.search.derive = "most_probable"  # no candidates to score: a fast smoke test

    config.train.epochs = 1
    config.train.batch_size = 64
    config.train.filters = 4
    config.train.num_cells = 2
    config.train.auxiliary_weight = 0.0
    config.train.graph_optimizer = False
    return config
