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
from egs_keras.data import image_datasets
from egs_keras.data import language_modeling
from egs_keras.training import distributed_loop
from egs_keras.training import language_runs
from egs_keras.training import strategies
from egs_keras.training import train_run


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
    """The batches a score trains on, its validation batches, and what builds need."""

    batches: object
    steps: int
    validation: object
    epochs: int
    vocab_size: int = 0


def objective(config):
    """The keras-tuner objective of a config: val_accuracy (max) or val_perplexity (min)."""
    if language_runs.is_language_task(config):
        return kt.Objective("val_perplexity", "min")
    return kt.Objective("val_accuracy", "max")


def scoring_data(config, epochs):
    """The data of `epochs`-epoch scoring runs of `config` (see the module doc), in the order
    of `config.seed`."""
    seed, train = config.seed, config.train
    if language_runs.is_language_task(config):
        vocabulary, streams = language_runs.load_corpus(config.data)
        rows = language_modeling.batchify(streams["train"], train.batch_size)
        batches, steps = language_modeling.training_windows(rows, train.bptt, seed, epochs)
        validation = language_modeling.evaluation_windows(
            language_modeling.batchify(streams["validation"], train.eval_batch_size),
            train.bptt)
        return ScoringData(batches, steps, validation, epochs, len(vocabulary))
    search = config.search
    spec, image_size, (examples, valid) = image_datasets.load_config_splits(
        config.data, search.train_split, search.valid_split)
    batches, steps = image_datasets.training_batches(
        examples, spec, image_size, train.batch_size, seed, epochs, cutout=train.cutout)
    validation = image_datasets.evaluation_batches(valid, spec, image_size, train.batch_size)
    return ScoringData(batches, steps, validation, epochs)


def build_model(config, genotype, data):
    """The compiled evaluation model of `genotype` for scoring runs on `data`, its initial
    weights a function of `config.seed` (so that a trial repeats exactly)."""
    keras.utils.set_random_seed(config.seed)
    if language_runs.is_language_task(config):
        return language_runs.build_language_model(config, genotype, data.vocab_size)
    return train_run.build_evaluation_model(config, genotype, data.steps)


def score_genotype(config, genotype, data, strategy="default"):
    """Trains the evaluation model of `genotype` on `data` under `strategy` (a name of
    `strategies.STRATEGIES`) and returns the objective's value after the last epoch."""
    distribution = strategies.get_strategy(strategy)
    with distribution.scope():
        model = build_model(config, search_space.load_genotype(genotype), data)
    history = distributed_loop.fit(model, distribution, data.batches, epochs=data.epochs,
                                   steps_per_epoch=data.steps,
                                   validation_data=data.validation,
                                   callbacks=[keras.callbacks.TerminateOnNaN()])
    return float(history.history[objective(config).name][-1])


def random_genotype_of(config, seed):
    """A genotype drawn uniformly from the EGS space of `config.search` (its M, primitives
    and nodes; CNN or recurrent; as many edges per node as its derivation keeps),
    reproducible from `seed`."""
    search = config.search
    edges = search.get("edges_per_node", 0) or None
    if language_runs.is_language_task(config):
        return search_space.random_genotype(
            search.num_samples, kind="rnn", primitives=search.primitives,
            num_intermediate=search.num_nodes - 4, seed=seed, name=f"random_{seed}",
            edges_per_node=edges)
    return search_space.random_genotype(
        search.num_samples, primitives=search.primitives,
        num_intermediate=search.num_nodes - 3, seed=seed, name=f"random_{seed}",
        edges_per_node=edges)
