"""Language modelling (config task "language", or "rnn"): the config's defaults and checks,
the recurrent-cell search, the language model trained on a recurrent genotype, its
SavedModel and its tuning score.

>>> genotype = run_search(config, "runs/ptb_search")                      # doctest: +SKIP
>>> run_training(config, "runs/ptb_eval", genotype)["test_perplexity"]   # doctest: +SKIP

Each run writes the vocabulary of its training split to `<workdir>/vocabulary.txt`.
Language models train under "default", "one_device", "mirrored" or "tpu" (not
"multi_worker", whose custom loop does not carry hidden states yet).
"""

import keras
import ml_collections
import numpy as np
import tensorflow as tf

from egs_keras import _validation
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.costs import edge_tables
from egs_keras.costs import measures
from egs_keras.costs import prior
from egs_keras.data import language_modeling
from egs_keras.data import text_corpora
from egs_keras.export import language_model
from egs_keras.export import litert
from egs_keras.layers.egs_rnn_cell import EGSRNNCell
from egs_keras.layers.genotype_rnn_cell import GenotypeRNNCell
from egs_keras.metrics import Perplexity
from egs_keras.models.language_model import RecurrentLanguageModel
from egs_keras.models.language_model import RecurrentSearchModel
from egs_keras.runs.task_contract import Task
from egs_keras.runs.task_contract import Tuning
from egs_keras.training import averaging
from egs_keras.training import config as run_config
from egs_keras.training import run_loop
from egs_keras.training import strategies
from egs_keras.training import training_runs
from egs_keras.training.workdir import Workdir

SPLITS = ("train", "validation", "test")


def default_config():
    """The paper's Penn Treebank settings: recurrent search at M = 4 (DARTS' search model, 300
    units), evaluation with 850 units and NT-ASGD (DARTS' `train.py`)."""
    config = ml_collections.ConfigDict()
    config.task = "language"   # (configs naming "rnn" load too)
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "egs_ptb"          # egs_ptb, egs_wikitext2 or egs_sentences
    config.data.data_dir = ""

    config.search = run_config.search_section()   # as the CNN search's (run_config)
    config.search.epochs = 50
    config.search.batch_size = 256
    config.search.eval_batch_size = 10
    config.search.bptt = 35
    config.search.units = 300              # embedding size = hidden size (tied weights)
    config.search.num_nodes = 12           # x, h, s0, 8 searched nodes, output
    config.search.primitives = list(search_space.DEFAULT_PRIMITIVES["rnn"])
    config.search.num_samples = 4
    config.search.learning_rate = 20.0
    config.search.weight_decay = 5e-7
    config.search.clip_norm = 0.25
    config.search.arch_learning_rate = 3e-3
    # Dropout rates (DARTS names): output (dropout), state (dropouth), cell input (dropoutx),
    # embedding features (dropouti), whole words (dropoute).
    config.search.output_dropout = 0.75
    config.search.state_dropout = 0.25
    config.search.cell_input_dropout = 0.75
    config.search.input_dropout = 0.2
    config.search.embedding_dropout = 0.0
    # "sample_and_validate" as the CNN search, once measured on language data (not yet).
    config.search.derive = "most_probable"
    config.search.edges_per_node = 1      # DARTS' recurrent cell: one input per node; 0: all

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 1600
    config.train.batch_size = 64
    config.train.eval_batch_size = 10
    config.train.bptt = 35
    config.train.units = 850
    config.train.learning_rate = 20.0
    config.train.weight_decay = 8e-7
    config.train.weight_decay_mode = "coupled"
    config.train.clip_norm = 0.25
    config.train.averaging_patience = 5    # NT-ASGD's n; 0: plain SGD throughout
    config.train.output_dropout = 0.75
    config.train.state_dropout = 0.25
    config.train.cell_input_dropout = 0.75
    config.train.input_dropout = 0.2
    config.train.embedding_dropout = 0.1
    config.export = run_config.export_section()
    return config


_DROPOUTS = ("output_dropout", "state_dropout", "cell_input_dropout", "input_dropout",
             "embedding_dropout")


def validate_config(config):
    """Checks the fields of a language-modelling config (the shared ones:
    `training.config.check_shared`); returns `config` or raises a ValueError."""
    if config.data.name not in text_corpora.CORPORA:
        raise _validation.invalid("config.data.name", f"one of {list(text_corpora.CORPORA)}",
                                  config.data.name)
    search, train = config.search, config.train
    for section, name in [(search, "search"), (train, "train")]:
        for field in ("epochs", "batch_size", "eval_batch_size", "bptt", "units"):
            _validation.check_positive_int(f"config.{name}.{field}", section[field])
        for field in ("learning_rate", "clip_norm"):
            _validation.check_positive_float(f"config.{name}.{field}", section[field])
        for field in _DROPOUTS:
            run_config.check_rate(section, name, field)
    _validation.check_positive_int("config.search.num_samples", search.num_samples)
    if search.num_nodes < 5:
        raise _validation.invalid("config.search.num_nodes", "an integer >= 5",
                                  search.num_nodes)
    run_config.check_search_choices(search)
    run_config.check_search_rates(search)
    run_config.check_weight_decay(search, "search", ("weight_decay", "arch_weight_decay"))
    run_config.check_weight_decay(train, "train", ("weight_decay",))
    if train.averaging_patience < 0:
        raise _validation.invalid("config.train.averaging_patience", "0 (off) or a positive "
                                  "integer", train.averaging_patience)
    return config


def load_corpus(data, workdir=None):
    """(vocabulary, {split: token stream}) of `config.data`; the vocabulary comes from the
    training split (and is written to `<workdir>/vocabulary.txt`)."""
    lines = text_corpora.load_lines(data.name, data.data_dir or None)
    vocabulary = language_modeling.Vocabulary.from_lines(lines["train"])
    if workdir is not None:
        vocabulary.save(workdir / "vocabulary.txt")
    return vocabulary, {split: vocabulary.encode(lines[split]) for split in SPLITS}


def _strategy(strategy):
    if strategy == "multi_worker" or isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy):
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


def data_sets(config):
    """[(TFDS builder, data_dir)] a run of `config` reads (`tasks.check_data`)."""
    return [(config.data.name, config.data.data_dir or None)]


def edge_costs(config, measure, **kwargs):
    """{"recurrent": `[num_edges, K]`} costs by `measure` of the operations of `config`'s
    recurrent search cell (see `prior.resolve_op_costs`)."""
    search = config.search
    num_edges = len(search_space.edges(search.num_nodes - 4, num_inputs=1))
    return edge_tables.rnn_edge_costs(search.primitives, measure, units=search.units,
                                          num_edges=num_edges, **kwargs)


def op_costs_of(config, workdir=None, strategy=None):
    """`prior.resolve_op_costs` for a recurrent search config."""
    return prior.resolve_op_costs(config, workdir, strategy, edge_costs=edge_costs)


def build_search_model(config, vocab_size, op_costs=None):
    """The compiled `RecurrentSearchModel` of `config.search`; `op_costs` as
    `prior.resolve_op_costs` returns them (resolved here if not given)."""
    search = config.search
    if op_costs is None:
        op_costs = op_costs_of(config)
    if isinstance(op_costs, dict):
        op_costs = op_costs["recurrent"]
    cell = EGSRNNCell(
        search.units, search.num_nodes, tuple(search.primitives), search.num_samples,
        temperature=search.temperature_start, op_costs=op_costs,
        effectiveness_weight=search.effectiveness_weight, execution=search.execution,
        dropout=search.cell_input_dropout, recurrent_dropout=search.state_dropout,
        seed=config.seed, replica_sampling=search.replica_sampling,
        **run_config.prior_and_probes(search))
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


def run_search(config, workdir, strategy="default"):
    """Runs (or resumes) a recurrent-cell search; returns the genotype, also written to
    `<workdir>/genotype.json` with its picture in `<workdir>/cells/`."""
    search = config.search
    with Workdir.open(workdir, _strategy(strategy)) as run_dir:
        run_dir.accept_config(config)
        vocabulary, streams = load_corpus(config.data, run_dir.path)
        rows = language_modeling.batchify(streams["train"], search.batch_size)

        def batches(initial_epoch):
            training, steps = language_modeling.training_windows(
                rows, search.bptt, config.seed, search.epochs, initial_epoch)
            if search.search_mode == "bilevel":
                valid_rows = language_modeling.batchify(streams["validation"],
                                                        search.batch_size)
                # The validation text is shorter: its windows cycle through it as often as
                # needed.
                repeats = -(-steps * search.epochs
                            // max((valid_rows.shape[1] - 1) // search.bptt, 1))
                valid_batches, _ = language_modeling.training_windows(
                    valid_rows, search.bptt, config.seed + 1, repeats)
                training = tf.data.Dataset.zip(
                    (training, valid_batches.skip(initial_epoch * steps)))
            return training, steps

        # (The initial weights are seeded after the data: the corpus' first preparation
        # draws Python random numbers of its own.)
        return run_loop.search(
            run_dir, config, batches=batches,
            validation=language_modeling.evaluation_windows(
                language_modeling.batchify(streams["validation"], search.eval_batch_size),
                search.bptt),
            op_costs=lambda: op_costs_of(config, run_dir.path, run_dir.strategy),
            build=lambda op_costs: build_search_model(config, len(vocabulary), op_costs))


def _windows(section, stream):
    return language_modeling.evaluation_windows(
        language_modeling.batchify(stream, section.eval_batch_size), section.bptt)


def run_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes) the language model of an RNN genotype, then scores the validation
    and test text; returns {"valid_perplexity", "test_perplexity", "parameters",
    "vocabulary_size", "epochs", "model"} (the numbers also go to `<workdir>/results.json`)."""
    train = config.train
    vocabulary = None

    def training_data(workdir):
        nonlocal vocabulary
        vocabulary, streams = load_corpus(config.data, workdir)
        rows = language_modeling.batchify(streams["train"], train.batch_size)

        def batches(initial_epoch):
            return language_modeling.training_windows(rows, train.bptt, config.seed,
                                                      train.epochs, initial_epoch)

        return training_runs.TrainingData(
            None, batches,  # (no learning-rate schedule: NT-ASGD's constant rate)
            validation=_windows(train, streams["validation"]),
            evaluations={split: _windows(train, streams[split])
                         for split in ("validation", "test")})

    def summarize(model, scores):
        return {"valid_perplexity": float(scores["validation"]["perplexity"]),
                "test_perplexity": float(scores["test"]["perplexity"]),
                "parameters": measures.count_parameters(model),
                "vocabulary_size": len(vocabulary), "epochs": train.epochs}

    return training_runs.train_and_evaluate(
        config, workdir, genotype, _strategy(strategy), data=training_data,
        summarize=summarize,
        build=lambda genotype, steps: build_language_model(config, genotype, len(vocabulary)),
        state_callbacks=lambda model: state_callbacks(config, model))


def rebuild(config, genotype, train_dir):
    """(model, state callbacks, {"vocabulary"}) of a training run, to load its checkpoint
    into (the averages of NT-ASGD come back with it)."""
    vocabulary = language_modeling.Vocabulary.load(train_dir / "vocabulary.txt")
    model = build_language_model(config, genotype, len(vocabulary))
    return model, state_callbacks(config, model), {"vocabulary": vocabulary}


def export(run, base, version, extra_files):
    """Writes the SavedModel of a loaded `TrainingRun` (`language_model.export_language_model`)."""
    return language_model.export_language_model(run.model, base, version, run.vocabulary,
                                                extra_files)


def litert_signature(run):
    """(the LiteRT `Signature` of a loaded `TrainingRun`, unrolled over `config.train.bptt`
    tokens; its int8 calibration inputs: consecutive windows of the training text, each with
    the state the model carried into it)."""
    steps = run.config.train.bptt
    lines = text_corpora.load_lines(run.config.data.name, run.config.data.data_dir or None)
    stream = np.asarray(run.vocabulary.encode(lines["train"]), np.int32)
    count = min(litert.REPRESENTATIVE_SAMPLES, len(stream) // steps)
    windows = stream[:count * steps].reshape(count, 1, steps)
    forward = tf.function(lambda tokens, states: run.model.forward(tokens, states))
    states = [tf.zeros([1, size]) for size in run.model.state_sizes]
    inputs = []
    for window in windows:
        inputs.append({"token_ids": window, "state": tf.concat(states, -1).numpy()})
        states = forward(window, states)[1]
    return litert.language_model_signature(run.model, steps), inputs


OBJECTIVE = ("val_perplexity", "min")


def scoring_run(config, epochs):
    """A short training that scores a genotype for tuning, on the training and validation
    text: (batches, steps per epoch, validation windows, build(genotype) → the compiled
    language model of `config.train`)."""
    train = config.train
    vocabulary, streams = load_corpus(config.data)
    rows = language_modeling.batchify(streams["train"], train.batch_size)
    batches, steps = language_modeling.training_windows(rows, train.bptt, config.seed, epochs)
    return batches, steps, _windows(train, streams["validation"]), (
        lambda genotype: build_language_model(config, genotype, len(vocabulary)))


def random_genotype(config, seed):
    """A recurrent genotype drawn uniformly from the EGS space of `config.search`."""
    search = config.search
    return search_space.random_genotype(
        search.num_samples, kind="rnn", primitives=search.primitives,
        num_intermediate=search.num_nodes - 4, seed=seed, name=f"random_{seed}",
        edges_per_node=search.get("edges_per_node", 0) or None)


TASK = Task(
    name="language", aliases=("rnn",), default_config=default_config,
    validate=validate_config, data_sets=data_sets, search=run_search, train=run_training,
    rebuild=rebuild, export=export, litert_signature=litert_signature,
    tuning=Tuning(objective=OBJECTIVE, scoring_run=scoring_run,
                  random_genotype=random_genotype))
