"""Recurrent-cell search and language-model training as flag-free functions (config task
"rnn"); `run_search` and `run_training` hand such configs over to them, so `egs-search`,
`egs-train` and `egs-pipeline` serve both tasks with the same flags, records and checkpoints.

>>> genotype = run_language_search(config, "runs/ptb_search")                 # doctest: +SKIP
>>> run_language_training(config, "runs/ptb_eval", genotype)["test_perplexity"]  # doctest: +SKIP

Each run writes the vocabulary of its training split to `<workdir>/vocabulary.txt`.
"""


import keras
import numpy as np
import tensorflow as tf

from egs_keras import _validation
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.data import language_modeling
from egs_keras.data import text_corpora
from egs_keras.layers.egs_rnn_cell import EGSRNNCell
from egs_keras.layers.genotype_rnn_cell import GenotypeRNNCell
from egs_keras.metrics import Perplexity
from egs_keras.models.language_model import RecurrentLanguageModel
from egs_keras.models.language_model import RecurrentSearchModel
from egs_keras.training import averaging
from egs_keras.training import records
from egs_keras.training import run_acceptance
from egs_keras.training import search_costs
from egs_keras.training import search_fit
from egs_keras.training import strategies

SPLITS = ("train", "validation", "test")


def load_corpus(data, workdir=None):
    """(vocabulary, {split: token stream}) of `config.data`; the vocabulary comes from the
    training split (and is written to `<workdir>/vocabulary.txt`)."""
    lines = text_corpora.load_lines(data.name, data.data_dir or None)
    vocabulary = language_modeling.Vocabulary.from_lines(lines["train"])
    if workdir is not None:
        vocabulary.save(workdir / "vocabulary.txt")
    return vocabulary, {split: vocabulary.encode(lines[split]) for split in SPLITS}


def _check_strategy(strategy):
    if strategy == "multi_worker":
        raise _validation.invalid(
            "strategy", '"default", "one_device", "mirrored" or "tpu" for language models',
            strategy, hint="Multi-worker training goes through a custom loop that does not "
                           "carry hidden states yet.")
    return strategies.get_strategy(strategy)


def _compile(model, section, **kwargs):
    model.compile(
        optimizer=optimizers.with_weight_decay(
            keras.optimizers.SGD, section.weight_decay, section.weight_decay_mode,
            global_clipnorm=section.clip_norm, learning_rate=section.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Perplexity()], jit_compile=False, **kwargs)
    return model


def _model_arguments(section, seed):
    return dict(embedding_dim=section.units, batch_size=section.batch_size,
                eval_batch_size=section.eval_batch_size,
                embedding_dropout=section.embedding_dropout, input_dropout=section.input_dropout,
                output_dropout=section.output_dropout, seed=seed)


def build_language_search_model(config, vocab_size, op_costs=None):
    """The compiled `RecurrentSearchModel` of `config.search`; `op_costs` as
    `search_costs.resolve_op_costs` returns them (resolved here if not given)."""
    search = config.search
    if op_costs is None:
        op_costs = search_costs.resolve_op_costs(config)
    if isinstance(op_costs, dict):
        op_costs = op_costs["recurrent"]
    cell = EGSRNNCell(
        search.units, search.num_nodes, tuple(search.primitives), search.num_samples,
        temperature=search.temperature_start, op_costs=op_costs,
        effectiveness_weight=search.effectiveness_weight, execution=search.execution,
        dropout=search.cell_input_dropout, recurrent_dropout=search.state_dropout,
        seed=config.seed, replica_sampling=search.replica_sampling)
    model = RecurrentSearchModel(vocab_size, cell, search_mode=search.search_mode,
                                 **_model_arguments(search, config.seed))
    return _compile(model, search, arch_optimizer=optimizers.with_weight_decay(
        keras.optimizers.Adam, search.arch_weight_decay, search.weight_decay_mode,
        learning_rate=search.arch_learning_rate))


def build_language_model(config, genotype, vocab_size):
    """The compiled evaluation `RecurrentLanguageModel` of `config.train` for an RNN
    genotype."""
    if genotype.kind != "rnn":
        raise _validation.invalid("genotype", 'a recurrent genotype (kind "rnn", e.g. '
                                  '"darts_rnn_v2" or an RNN search result)', genotype.kind)
    train, cell_genotype = config.train, genotype.cells["recurrent"]
    cell = GenotypeRNNCell(train.units, cell_genotype.to_dict()["nodes"], cell_genotype.concat,
                           dropout=train.cell_input_dropout,
                           recurrent_dropout=train.state_dropout, seed=config.seed)
    model = RecurrentLanguageModel(vocab_size, cell, **_model_arguments(train, config.seed))
    return _compile(model, train)


def state_callbacks(config, model):
    """The callbacks with checkpointed state of a language-model training run: NT-ASGD's
    `WeightAveraging` when `config.train.averaging_patience` > 0 (training and export both
    build them, so that the checkpoint holds and restores the averages)."""
    patience = config.train.averaging_patience
    return [averaging.WeightAveraging(model, patience)] if patience else []


@records.owns_workdir
def run_language_search(config, workdir, strategy="default"):
    """Runs (or resumes) a recurrent-cell search; returns the genotype, also written to
    `<workdir>/genotype.json` with its picture in `<workdir>/cells/`."""
    workdir = records.prepare_workdir(workdir)
    records.write_config(config, workdir)
    search = config.search
    vocabulary, streams = load_corpus(config.data, workdir)
    distribution = _check_strategy(strategy)
    op_costs = search_costs.resolve_op_costs(config, workdir, distribution)
    # Initial weights: a function of the seed, set after the data (the corpus' first
    # preparation draws Python random numbers of its own).
    keras.utils.set_random_seed(config.seed)
    with distribution.scope():
        model = build_language_search_model(config, len(vocabulary), op_costs)
        checkpoint, callbacks = records.run_callbacks_for(workdir, model)
    initial_epoch = checkpoint.restore()
    rows = language_modeling.batchify(streams["train"], search.batch_size)
    batches, steps = language_modeling.training_windows(
        rows, search.bptt, config.seed, search.epochs, initial_epoch)
    if search.search_mode == "bilevel":
        valid_rows = language_modeling.batchify(streams["validation"], search.batch_size)
        # The validation text is shorter: its windows cycle through it as often as needed.
        repeats = -(-steps * search.epochs // max((valid_rows.shape[1] - 1) // search.bptt, 1))
        valid_batches, _ = language_modeling.training_windows(
            valid_rows, search.bptt, config.seed + 1, repeats)
        batches = tf.data.Dataset.zip((batches, valid_batches.skip(initial_epoch * steps)))
    validation = language_modeling.evaluation_windows(
        language_modeling.batchify(streams["validation"], search.eval_batch_size), search.bptt)
    return search_fit.fit_and_derive(model, config, workdir, batches, steps, validation,
                                     callbacks, initial_epoch, op_costs=op_costs)


@records.owns_workdir
def run_language_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes) the language model of an RNN genotype, then scores the validation
    and test text; returns {"valid_perplexity", "test_perplexity", "parameters", "epochs",
    "model"} (the numbers also go to `<workdir>/results.json`)."""
    workdir = records.prepare_workdir(workdir)
    train = config.train
    genotype = search_space.load_genotype(genotype)
    run_acceptance.accept_training(config, genotype, workdir)
    vocabulary, streams = load_corpus(config.data, workdir)
    keras.utils.set_random_seed(config.seed)  # initial weights: a function of the seed
    with _check_strategy(strategy).scope():
        model = build_language_model(config, genotype, len(vocabulary))
        state = state_callbacks(config, model)
        checkpoint, callbacks = records.run_callbacks_for(workdir, model, state_callbacks=state)
    initial_epoch = checkpoint.restore()
    rows = language_modeling.batchify(streams["train"], train.batch_size)
    batches, steps = language_modeling.training_windows(
        rows, train.bptt, config.seed, train.epochs, initial_epoch)

    def windows(split):
        return language_modeling.evaluation_windows(
            language_modeling.batchify(streams[split], train.eval_batch_size), train.bptt)

    if initial_epoch < train.epochs:
        model.fit(batches, epochs=train.epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=steps, validation_data=windows("validation"),
                  callbacks=callbacks, verbose=records.progress_verbosity(), shuffle=False)
    else:
        for callback in state:
            callback.apply()
    scores = {split: model.evaluate(windows(split), verbose=0, return_dict=True)
              for split in ("validation", "test")}
    results = {"valid_perplexity": float(scores["validation"]["perplexity"]),
               "test_perplexity": float(scores["test"]["perplexity"]),
               "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
               "vocabulary_size": len(vocabulary), "epochs": train.epochs}
    records.write_results(results, workdir)
    return {**results, "model": model}


def is_language_task(config):
    """Whether a run config is a recurrent (language-model) one."""
    return config.get("task", "cnn") == "rnn"

