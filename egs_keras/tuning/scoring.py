"""How tuning scores a genotype: a short training of its evaluation model, measured on the
search's validation data — never on the test split, which stays for the final report.

* CNN configs: the evaluation network of `config.train` trains on `config.search.train_split`
  and is scored by `val_accuracy` on `config.search.valid_split` (higher is better).
* RNN configs: the language model of `config.train` trains on the training text and is scored
  by `val_perplexity` on the validation text (lower is better).

>>> data = scoring_data(config, epochs=5)                               # doctest: +SKIP
>>> score_genotype(config, genotype, data)                              # doctest: +SKIP
0.93
"""

import dataclasses

import keras
import keras_tuner as kt

from egs_keras import search_space
from egs_keras.runs import tasks
from egs_keras.training import distributed_loop
from egs_keras.training import strategies


def oracle_seed(config, seed=None):
    """The seed for a keras-tuner oracle: `seed`, else `config.seed`, plus one, because
    keras-tuner replaces a seed of 0 by a random one (`seed or random.randint(1, 10000)`),
    which made the default config's trials differ from run to run.

    >>> oracle_seed(config)                 # config.seed = 0               # doctest: +SKIP
    1
    """
    return (config.seed if seed is None else seed) + 1


@dataclasses.dataclass
class ScoringData:
    """The batches a score trains on, its validation batches, and `build(genotype)` → the
    compiled model to train (the task's `scoring_run`)."""

    batches: object
    steps: int
    validation: object
    epochs: int
    build: object


def objective(config):
    """The keras-tuner objective of a config's task: val_accuracy (max) or val_perplexity
    (min)."""
    return kt.Objective(*tasks.tuning_of(config).objective)


def scoring_data(config, epochs):
    """The data of `epochs`-epoch scoring runs of `config` (see the module doc), in the order
    of `config.seed`."""
    batches, steps, validation, build = tasks.tuning_of(config).scoring_run(config,
                                                                                   epochs)
    return ScoringData(batches, steps, validation, epochs, build)


def build_model(config, genotype, data):
    """The compiled evaluation model of `genotype` for scoring runs on `data`, its initial
    weights a function of `config.seed` (so that a trial repeats exactly)."""
    keras.utils.set_random_seed(config.seed)
    return data.build(search_space.load_genotype(genotype))


def score_genotype(config, genotype, data, strategy="default"):
    """Trains the evaluation model of `genotype` on `data` under `strategy` (a name of
    `strategies.STRATEGIES` or a `tf.distribute.Strategy`) and returns the objective's value
    after the last epoch."""
    strategy = strategies.get_strategy(strategy)
    with strategy.scope():
        model = build_model(config, genotype, data)
    history = distributed_loop.fit(model, strategy, data.batches, epochs=data.epochs,
                                   steps_per_epoch=data.steps,
                                   validation_data=data.validation,
                                   callbacks=[keras.callbacks.TerminateOnNaN()])
    return float(history.history[objective(config).name][-1])


def random_genotype_of(config, seed):
    """A genotype drawn uniformly from the EGS space of `config.search` (its M, primitives
    and nodes; CNN or recurrent; as many edges per node as its derivation keeps),
    reproducible from `seed`."""
    return tasks.tuning_of(config).random_genotype(config, seed)
