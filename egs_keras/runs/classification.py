"""Image classification (config task "classification", or "cnn"): the config's defaults and
checks, the CNN cell search, the evaluation network trained from scratch on a genotype, its
size, its SavedModel and its tuning score.

>>> genotype = run_search(config, "runs/search")                          # doctest: +SKIP
>>> run_training(config, "runs/train", genotype)["test_accuracy"]        # doctest: +SKIP

Resuming: started again with the same config and directory, a run continues from its last
checkpoint (weights, α, both optimizers, EGS sample counters, epoch); a finished search only
derives the genotype again, a finished training only evaluates again.
"""

import keras
import ml_collections
import tensorflow as tf

from egs_keras import _validation
from egs_keras import losses
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.costs import edge_tables
from egs_keras.costs import measures
from egs_keras.costs import prior
from egs_keras.data import image_datasets
from egs_keras.export import litert
from egs_keras.export import saved_model
from egs_keras.models.evaluation_network import STEMS
from egs_keras.models.evaluation_network import EvaluationNetwork
from egs_keras.models.search_network import EGSSearchNetwork
from egs_keras.runs.task_contract import Task
from egs_keras.runs.task_contract import Tuning
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import config as run_config
from egs_keras.training import run_loop
from egs_keras.training import training_runs
from egs_keras.training.workdir import Workdir

MIN_IMAGE_SIZE = 8  # two reduction cells leave 2×2 maps; the smallest size the tests run
LEARNING_RATE_SCHEDULES = ("cosine", "poly")


def default_config():
    """The paper's CIFAR-10 settings (search at M = 7, evaluation of 20 cells × 36 filters)."""
    config = ml_collections.ConfigDict()
    config.task = "classification"   # (configs naming "cnn" load too)
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "cifar10"          # a key of egs_keras.data.DATASETS
    config.data.data_dir = ""             # TFDS data directory; "" = TFDS' default
    config.data.image_size = 0            # 0: the data set's size (CIFAR 32, ImageNet 224)

    config.search = run_config.search_section()   # the decisions' settings, with the prior
    config.search.epochs = 50
    config.search.batch_size = 64
    config.search.train_split = "train[:50%]"   # DARTS: half for weights ...
    config.search.valid_split = "train[50%:]"   # ... half for α (bilevel) and validation
    config.search.filters = 16
    config.search.num_cells = 8
    config.search.num_nodes = 7
    config.search.primitives = list(search_space.DEFAULT_PRIMITIVES["cnn"])
    config.search.num_samples = 7                 # M (any M >= 1; Table 5 runs 1..9 of K = 8)
    config.search.renormalize = False
    config.search.learning_rate = 0.025
    config.search.learning_rate_min = 0.001
    config.search.momentum = 0.9
    config.search.weight_decay = 3e-4
    config.search.arch_learning_rate = 3e-4
    config.search.cutout = False                  # DARTS searches without cutout
    # The paper's "sample_and_validate": the most probable and derive_candidates − 1 sampled
    # architectures scored on the validation split with the search network's weights, the
    # best kept (it retrained better than the most probable cells: docs/recipe.md, "Does the
    # search decide?"); or "most_probable", "sample".
    config.search.derive = "sample_and_validate"
    # Strongest incoming edges each node keeps (DARTS and the paper's cells: 2); 0 keeps all.
    config.search.edges_per_node = 2
    # Grappler off: the search starts 1.5-1.8x sooner, every execution steps as fast or
    # faster (docs/benchmarks.md, "The graph optimiser").
    config.search.graph_optimizer = False
    config.search.jit_compile = False             # XLA (TPUs: True; needs execution "dense")

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 600
    config.train.batch_size = 96
    config.train.filters = 36
    config.train.num_cells = 20
    config.train.stem = "cifar"
    config.train.auxiliary_weight = 0.4
    config.train.drop_path_rate = 0.2
    config.train.learning_rate = 0.025
    config.train.momentum = 0.9
    config.train.weight_decay = 3e-4
    config.train.weight_decay_mode = "coupled"
    config.train.learning_rate_schedule = "cosine"  # or "poly": lr · (1 − step/steps)^power
    config.train.learning_rate_power = 0.9
    config.train.cutout = True                    # cutout 16 on CIFAR-10 (DARTS' evaluation)
    config.train.label_smoothing = 0.0
    config.train.graph_optimizer = True           # Grappler on, as TensorFlow defaults
    config.train.jit_compile = False              # XLA (TPUs: True)
    config.export = run_config.export_section()
    return config


def validate_config(config):
    """Checks the fields of an image-classification config the code relies on (the shared
    ones: `training.config.check_shared`); returns `config` or raises a ValueError naming the
    field, the value and what was expected."""
    image_datasets.get_dataset(config.data.name)
    size = config.data.image_size
    if isinstance(size, bool) or not isinstance(size, int) or (size != 0 and size < MIN_IMAGE_SIZE):
        raise _validation.invalid(
            "config.data.image_size", f"0 (the data set's size) or an integer >= "
            f"{MIN_IMAGE_SIZE}", size, hint="The search and evaluation networks halve the "
            "image in each of their two reduction cells.")
    search, train = config.search, config.train
    for section, name in [(search, "search"), (train, "train")]:
        for field in ("epochs", "batch_size", "filters", "num_cells"):
            _validation.check_positive_int(f"config.{name}.{field}", section[field])
        _validation.check_positive_float(f"config.{name}.learning_rate", section.learning_rate)
        run_config.check_rate(section, name, "momentum")
    run_config.check_search_rates(search)
    run_config.check_rate(train, "train", "label_smoothing")
    if search.num_nodes < 4:
        raise _validation.invalid("config.search.num_nodes", "an integer >= 4 (2 inputs, at "
                                  "least 1 intermediate node, 1 output)", search.num_nodes)
    _validation.check_positive_int("config.search.num_samples", search.num_samples)
    _validation.check_unit_interval("config.search.effectiveness_weight",
                                    search.effectiveness_weight)
    run_config.check_search_choices(search)
    for field in ("temperature_start", "temperature_end"):
        _validation.check_positive_float(f"config.search.{field}", search[field])
    if search.jit_compile and search.execution != "dense":
        raise _validation.invalid(
            "config.search.jit_compile", 'False with config.search.execution="sparse"', True,
            hint="Sparse execution skips inactive operations with graph switches (Switch/"
                 "Merge), which XLA does not compile; use execution 'dense' with jit_compile.")
    run_config.check_weight_decay(search, "search", ("weight_decay", "arch_weight_decay"))
    run_config.check_weight_decay(train, "train", ("weight_decay",))
    if train.learning_rate_schedule not in LEARNING_RATE_SCHEDULES:
        raise _validation.invalid("config.train.learning_rate_schedule",
                                  f"one of {list(LEARNING_RATE_SCHEDULES)}",
                                  train.learning_rate_schedule)
    _validation.check_positive_float("config.train.learning_rate_power",
                                     train.learning_rate_power)
    if train.stem not in STEMS:
        raise _validation.invalid("config.train.stem", f"one of {list(STEMS)}", train.stem)
    run_config.check_rate(train, "train", "drop_path_rate")
    _validation.check_non_negative_float("config.train.auxiliary_weight",
                                         train.get("auxiliary_weight", 0.0))
    return config


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


def run_search(config, workdir, strategy="default"):
    """Runs (or resumes) the CNN cell search of `config` in `workdir`; returns the derived
    genotype, also written to `<workdir>/genotype.json` with pictures in `<workdir>/cells/`.
    `strategy`: a name of `strategies.STRATEGIES` or a `tf.distribute.Strategy`."""
    search, data = config.search, config.data
    spec, image_size, (train, valid) = image_datasets.load_config_splits(
        data, search.train_split, search.valid_split)
    steps = image_datasets.steps_per_epoch(train, search.batch_size,
                                           "config.search.batch_size", search.train_split)
    if search.search_mode == "bilevel":  # α's steps take whole batches of this split too
        image_datasets.steps_per_epoch(valid, search.batch_size, "config.search.batch_size",
                                       search.valid_split)

    def batches(initial_epoch):
        training, steps = image_datasets.training_batches(
            train, spec, image_size, search.batch_size, config.seed, search.epochs,
            initial_epoch, cutout=search.cutout)
        if search.search_mode == "bilevel":
            valid_batches, valid_steps = image_datasets.training_batches(
                valid, spec, image_size, search.batch_size, config.seed + 1, search.epochs,
                initial_epoch, cutout=search.cutout)
            return tf.data.Dataset.zip((training, valid_batches)), min(steps, valid_steps)
        return training, steps

    with Workdir.open(workdir, strategy) as run_dir:
        run_dir.accept_config(config)
        return run_loop.search(
            run_dir, config, batches=batches,
            validation=image_datasets.evaluation_batches(valid, spec, image_size,
                                                         search.batch_size),
            op_costs=lambda: op_costs_of(config, run_dir.own, run_dir.strategy),
            build=lambda op_costs: build_search_model(config, steps, op_costs))


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


TASK = Task(
    name="classification", aliases=("cnn",), default_config=default_config,
    validate=validate_config, data_sets=data_sets, search=run_search, train=run_training,
    rebuild=rebuild, export=export, litert_signature=litert_signature, count=count_network,
    tuning=Tuning(objective=OBJECTIVE, scoring_run=scoring_run,
                  random_genotype=random_genotype))
