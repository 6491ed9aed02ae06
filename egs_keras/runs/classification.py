"""Image classification (config task "cnn"): the CNN cell search, the evaluation network
trained from scratch on a genotype, its size, its SavedModel and its tuning score.

>>> genotype = run_search(config, "runs/search")                          # doctest: +SKIP
>>> run_training(config, "runs/train", genotype)["test_accuracy"]        # doctest: +SKIP

Resuming: started again with the same config and directory, a run continues from its last
checkpoint (weights, α, both optimizers, EGS sample counters, epoch); a finished search only
derives the genotype again, a finished training only evaluates again.
"""

import keras
import tensorflow as tf

from egs_keras import losses
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.costs import edge_tables
from egs_keras.costs import measures
from egs_keras.costs import prior
from egs_keras.data import image_datasets
from egs_keras.export import litert
from egs_keras.export import saved_model
from egs_keras.models.evaluation_network import EvaluationNetwork
from egs_keras.models.search_network import EGSSearchNetwork
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import config as run_config
from egs_keras.training import records
from egs_keras.training import search_fit
from egs_keras.training import strategies
from egs_keras.training import training_runs


def data_sets(config):
    """[(TFDS builder, data_dir)] a run of `config` reads (`tasks.check_data`)."""
    return [(image_datasets.get_dataset(config.data.name).tfds_name,
             config.data.data_dir or None)]


def edge_costs(config, measure, **kwargs):
    """{"normal", "reduce": `[num_edges, K]`} costs by `measure` of the operations at the
    shapes they have in `config`'s search network (see `prior.resolve_op_costs`)."""
    search, spec = config.search, image_datasets.get_dataset(config.data.name)
    size = config.data.image_size or spec.image_size
    return edge_tables.cnn_edge_costs(
        search.primitives, measure, image_shape=(size, size, spec.channels),
        filters=search.filters, num_cells=search.num_cells, num_nodes=search.num_nodes,
        **kwargs)


def op_costs_of(config, workdir=None, strategy=None):
    """`prior.resolve_op_costs` for a CNN search config."""
    return prior.resolve_op_costs(config, workdir, strategy, edge_costs=edge_costs)


def build_search_model(config, steps_per_epoch, op_costs=None):
    """The compiled `EGSSearchNetwork` of a config (create it inside a strategy's scope);
    `op_costs` as `prior.resolve_op_costs` returns them (resolved here, with
    latencies kept in memory, if not given)."""
    if op_costs is None:
        op_costs = op_costs_of(config)
    search, spec = config.search, image_datasets.get_dataset(config.data.name)
    image_size = config.data.image_size or spec.image_size
    model = EGSSearchNetwork(
        num_classes=spec.num_classes, input_shape=(image_size, image_size, spec.channels),
        filters=search.filters, num_cells=search.num_cells, num_nodes=search.num_nodes,
        primitives=tuple(search.primitives), num_samples=search.num_samples,
        temperature=search.temperature_start, op_costs=op_costs,
        effectiveness_weight=search.effectiveness_weight, execution=search.execution,
        renormalize=search.renormalize, search_mode=search.search_mode, seed=config.seed,
        replica_sampling=search.replica_sampling, **run_config.prior_and_probes(search))
    learning_rate = keras.optimizers.schedules.CosineDecay(
        search.learning_rate, decay_steps=max(search.epochs * steps_per_epoch, 1),
        alpha=search.learning_rate_min / search.learning_rate)
    mode = search.weight_decay_mode
    model.compile(
        optimizer=optimizers.with_weight_decay(
            keras.optimizers.SGD, search.weight_decay, mode, global_clipnorm=5.0,
            learning_rate=learning_rate, momentum=search.momentum),
        arch_optimizer=optimizers.with_weight_decay(
            keras.optimizers.Adam, search.arch_weight_decay, mode,
            learning_rate=search.arch_learning_rate, beta_1=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=search.get("jit_compile", False))
    return model


@records.owns_workdir
def run_search(config, workdir, strategy="default"):
    """Runs (or resumes) the CNN cell search of `config` in `workdir`; returns the derived
    genotype, also written to `<workdir>/genotype.json` with pictures in `<workdir>/cells/`.
    `strategy`: a name of `strategies.STRATEGIES` or a `tf.distribute.Strategy`."""
    workdir = records.prepare_workdir(workdir)
    strategy = strategies.get_strategy(strategy)
    search, data = config.search, config.data
    spec, image_size, (train, valid) = image_datasets.load_config_splits(
        data, search.train_split, search.valid_split)
    steps = image_datasets.steps_per_epoch(train, search.batch_size,
                                           "config.search.batch_size", search.train_split)
    if search.search_mode == "bilevel":  # α's steps take whole batches of this split too
        image_datasets.steps_per_epoch(valid, search.batch_size, "config.search.batch_size",
                                       search.valid_split)
    records.write_config(config, workdir, write=strategies.is_chief(strategy))
    records.set_graph_optimizer(search.graph_optimizer)

    op_costs = op_costs_of(config, records.worker_directory(workdir, strategy), strategy)
    keras.utils.set_random_seed(config.seed)  # initial weights: a function of the seed
    with strategy.scope():
        model = build_search_model(config, steps, op_costs)
        checkpoint, callbacks = records.run_callbacks_for(workdir, model, strategy=strategy)
    initial_epoch = checkpoint.restore()

    batches, steps = image_datasets.training_batches(
        train, spec, image_size, search.batch_size, config.seed, search.epochs, initial_epoch,
        cutout=search.cutout)
    if search.search_mode == "bilevel":
        valid_batches, valid_steps = image_datasets.training_batches(
            valid, spec, image_size, search.batch_size, config.seed + 1, search.epochs,
            initial_epoch, cutout=search.cutout)
        batches, steps = tf.data.Dataset.zip((batches, valid_batches)), min(steps, valid_steps)
    validation = image_datasets.evaluation_batches(valid, spec, image_size, search.batch_size)
    return search_fit.fit_and_derive(model, config, workdir, batches, steps, validation,
                                     callbacks, initial_epoch, strategy, checkpoint,
                                     op_costs)


def learning_rate_schedule(train, steps_per_epoch):
    """The learning rate of `config.train` over its epochs: "cosine" (DARTS' CIFAR-10
    evaluation: cosine to 0) or "poly" (lr · (1 − step / steps)^`learning_rate_power`)."""
    steps = max(train.epochs * steps_per_epoch, 1)
    if train.learning_rate_schedule == "poly":
        return keras.optimizers.schedules.PolynomialDecay(
            train.learning_rate, decay_steps=steps, end_learning_rate=0.0,
            power=train.learning_rate_power)
    return keras.optimizers.schedules.CosineDecay(train.learning_rate, decay_steps=steps)


def build_evaluation_model(config, genotype, steps_per_epoch):
    """The compiled `EvaluationNetwork` of a config (create it inside a strategy's scope);
    `genotype` as `search_space.load_genotype` takes it."""
    train, spec = config.train, image_datasets.get_dataset(config.data.name)
    image_size = config.data.image_size or spec.image_size
    model = EvaluationNetwork(
        genotype, num_classes=spec.num_classes,
        input_shape=(image_size, image_size, spec.channels), filters=train.filters,
        num_cells=train.num_cells, stem=train.stem, auxiliary_weight=train.auxiliary_weight,
        seed=config.seed)
    learning_rate = learning_rate_schedule(train, steps_per_epoch)
    if train.label_smoothing:
        loss = losses.SparseCategoricalCrossentropyWithSmoothing(spec.num_classes,
                                                                 train.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=optimizers.with_weight_decay(
            keras.optimizers.SGD, train.weight_decay, train.weight_decay_mode,
            global_clipnorm=5.0, learning_rate=learning_rate, momentum=train.momentum),
        loss=loss, metrics=["accuracy"], jit_compile=train.get("jit_compile", False))
    return model


@records.owns_workdir
def run_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes training) the evaluation network of `genotype` in `workdir`,
    evaluates it on the test split and returns {"test_accuracy", "test_loss", "parameters",
    "multiply_adds", "epochs", "model"}; the numbers also go to `<workdir>/results.json`."""
    train, data = config.train, config.data

    def training_data(workdir):
        spec = image_datasets.get_dataset(data.name)
        spec, image_size, (examples, test) = image_datasets.load_config_splits(
            data, spec.train_split, spec.test_split)
        test_batches = image_datasets.evaluation_batches(test, spec, image_size,
                                                         train.batch_size)

        def batches(initial_epoch):
            return image_datasets.training_batches(
                examples, spec, image_size, train.batch_size, config.seed, train.epochs,
                initial_epoch, cutout=train.cutout)

        return training_runs.TrainingData(
            image_datasets.steps_per_epoch(examples, train.batch_size,
                                           "config.train.batch_size", spec.train_split),
            batches,
            validation=test_batches, evaluations={"test": test_batches})

    def summarize(model, scores):
        return {"test_accuracy": scores["test"]["accuracy"],
                "test_loss": scores["test"]["loss"],
                "parameters": measures.count_parameters(model),
                "multiply_adds": measures.count_multiply_adds(model),
                "epochs": train.epochs}

    drop_path = ([run_callbacks.DropPathScheduler(train.drop_path_rate, train.epochs)]
                 if train.drop_path_rate > 0 else [])
    return training_runs.train_and_evaluate(
        config, workdir, genotype, strategy, data=training_data, summarize=summarize,
        build=lambda genotype, steps: build_evaluation_model(config, genotype, steps),
        callbacks=drop_path)


def count_network(config, genotype):
    """{"parameters", "parameters_with_auxiliary", "multiply_adds", "input_shape"} of the
    evaluation network of `config.train` for `genotype`, without training (`egs-count`)."""
    model = build_evaluation_model(config, search_space.load_genotype(genotype),
                                   steps_per_epoch=1)
    return {"parameters": measures.count_parameters(model),
            "parameters_with_auxiliary": measures.count_parameters(model,
                                                                     include_auxiliary=True),
            "multiply_adds": measures.count_multiply_adds(model),
            "input_shape": list(model.image_shape)}


def rebuild(config, genotype, train_dir):
    """(model, state callbacks, extras) of a training run, to load its checkpoint into."""
    del train_dir
    return build_evaluation_model(config, genotype, steps_per_epoch=1), [], {}


def export(run, base, version, extra_files):
    """Writes the SavedModel of a loaded `TrainingRun` (`saved_model.export_classifier`)."""
    return saved_model.export_classifier(run.model, base, run.config.data.name, version,
                                         extra_files=extra_files)


def litert_signature(run):
    """(the LiteRT `Signature` of a loaded `TrainingRun`, its int8 calibration inputs: the
    first training images as evaluation prepares them)."""
    train_split = image_datasets.get_dataset(run.config.data.name).train_split
    spec, image_size, (examples,) = image_datasets.load_config_splits(run.config.data,
                                                                      train_split)
    images = next(iter(image_datasets.evaluation_batches(
        examples.take(litert.REPRESENTATIVE_SAMPLES), spec, image_size,
        litert.REPRESENTATIVE_SAMPLES)))[0]
    return (litert.classifier_signature(run.model),
            litert.representative_inputs(images.numpy(), "images"))


OBJECTIVE = ("val_accuracy", "max")


def scoring_run(config, epochs):
    """A short training that scores a genotype for tuning, on the search's data (never the
    test split): (batches, steps per epoch, validation batches, build(genotype, steps) → the
    compiled evaluation network of `config.train`)."""
    search, train = config.search, config.train
    spec, image_size, (examples, valid) = image_datasets.load_config_splits(
        config.data, search.train_split, search.valid_split)
    batches, steps = image_datasets.training_batches(
        examples, spec, image_size, train.batch_size, config.seed, epochs, cutout=train.cutout)
    validation = image_datasets.evaluation_batches(valid, spec, image_size, train.batch_size)
    return batches, steps, validation, lambda genotype: build_evaluation_model(
        config, genotype, steps)


def random_genotype(config, seed):
    """A CNN genotype drawn uniformly from the EGS space of `config.search`."""
    search = config.search
    return search_space.random_genotype(
        search.num_samples, primitives=search.primitives,
        num_intermediate=search.num_nodes - 3, seed=seed, name=f"random_{seed}",
        edges_per_node=search.get("edges_per_node", 0) or None)
