"""The configuration of runs: every field with its default, and a check with clear errors.

Experiment files in `configs/` start from `default_config()` and change what differs; the
trainers accept `--config=configs/<file>.py` and overrides such as `--config.search.epochs=3`.

>>> config = default_config()
>>> config.search.num_samples
7
>>> validate_config(config) is config
True
"""

import ml_collections

from egs_keras import _validation
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.data import image_datasets
from egs_keras.export import formats
from egs_keras.export import litert
from egs_keras.layers import ensemble_gumbel_softmax
from egs_keras.layers import execution_modes
from egs_keras.models.architecture_search import SEARCH_MODES
from egs_keras.models.evaluation_network import STEMS
from egs_keras.training import temperature

TASKS = ("cnn", "rnn", "segmentation")
LEARNING_RATE_SCHEDULES = ("cosine", "poly")


def export_section():
    """What `egs-pipeline` exports after training (`runs.export.export_training_run`)."""
    export = ml_collections.ConfigDict()
    export.formats = "saved_model"        # "saved_model,litert": also .tflite files (LiteRT)
    export.litert_quantizations = ",".join(litert.QUANTIZATIONS)  # float32, dynamic_range, int8
    return export


MIN_IMAGE_SIZE = 8  # two reduction cells leave 2×2 maps; the smallest size the tests run


def default_config():
    """The paper's CIFAR-10 settings (search at M = 7, evaluation of 20 cells × 36 filters)."""
    config = ml_collections.ConfigDict()
    config.task = "cnn"     # "cnn": image cells; "rnn", "segmentation": see default_*_config()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "cifar10"          # a key of egs_keras.data.DATASETS
    config.data.data_dir = ""             # TFDS data directory; "" = TFDS' default
    config.data.image_size = 0            # 0: the data set's size (CIFAR 32, ImageNet 224)

    config.search = ml_collections.ConfigDict()
    config.search.epochs = 50
    config.search.batch_size = 64
    config.search.train_split = "train[:50%]"   # DARTS: half for weights ...
    config.search.valid_split = "train[50%:]"   # ... half for α (bilevel) and validation
    config.search.filters = 16
    config.search.num_cells = 8
    config.search.num_nodes = 7
    config.search.primitives = list(search_space.DEFAULT_PRIMITIVES["cnn"])
    config.search.num_samples = 7                 # M (any M >= 1; Table 5 runs 1..9 of K = 8)
    config.search.effectiveness_weight = 0.5      # λ
    # β: l ∝ exp(−β · cost / max cost) (0: uniform l; docs/recipe.md's sensitivity table).
    config.search.prior_strength = 1.0
    # The paper's prior: p = λ·softmax(α) + (1 − λ)·l, l from each operation's measured
    # forward + backward "latency" on the run's device at its shape in the search network
    # (or "parameters", "multiply_adds", K comma-separated numbers; "": no prior, p =
    # softmax(α)). The latencies are kept in <workdir>/latency.json, or in this file:
    config.search.op_costs = "latency"
    config.search.latency_table = ""
    # op_costs "litert": one inference of one example in LiteRT's interpreter, this many
    # threads (docs/litert.md, "Searching for LiteRT latency").
    config.search.litert_threads = 1
    # A device the latency_table was measured on (e.g. "pixel-7-litert-4-threads"): its rows
    # are the prior and nothing is measured here; "": measure on this machine.
    config.search.latency_device = ""
    # "dense": every operation computed (the paper's gradient); "sparse": the active ones and
    # a random share `probe_rate` of the others (unbiased α-gradient, faster); "sparse_biased":
    # the active ones only (GDAS-like, biased). docs/search.md, "Execution".
    config.search.execution = "dense"
    config.search.probe_rate = execution_modes.DEFAULT_PROBE_RATE
    config.search.renormalize = False
    config.search.search_mode = "joint"
    config.search.replica_sampling = "independent"  # or "shared" (tf.distribute replicas)
    config.search.temperature_schedule = "linear"
    config.search.temperature_start = 5.0
    config.search.temperature_end = 1.0
    config.search.learning_rate = 0.025
    config.search.learning_rate_min = 0.001
    config.search.momentum = 0.9
    # Weight decay as DARTS and the paper apply it: "coupled" = L2 added to the gradient
    # (PyTorch's weight_decay), for the weights and α; "decoupled" = Keras' (SGDW / AdamW).
    config.search.weight_decay = 3e-4
    config.search.weight_decay_mode = "coupled"
    config.search.arch_learning_rate = 3e-4
    config.search.arch_weight_decay = 1e-3
    config.search.cutout = False                  # DARTS searches without cutout
    # The paper's "sample_and_validate": the most probable and derive_candidates − 1 sampled
    # architectures scored on the validation split with the search network's weights, the
    # best kept (it retrained better than the most probable cells: docs/recipe.md, "Does the
    # search decide?"); or "most_probable", "sample".
    config.search.derive = "sample_and_validate"
    config.search.derive_candidates = 10
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
    config.export = export_section()
    return config


def default_rnn_config():
    """The paper's Penn Treebank settings: recurrent search at M = 4 (DARTS' search model, 300
    units), evaluation with 850 units and NT-ASGD (DARTS' `train.py`)."""
    config = ml_collections.ConfigDict()
    config.task = "rnn"
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "egs_ptb"          # egs_ptb, egs_wikitext2 or egs_sentences
    config.data.data_dir = ""

    config.search = ml_collections.ConfigDict()
    config.search.epochs = 50
    config.search.batch_size = 256
    config.search.eval_batch_size = 10
    config.search.bptt = 35
    config.search.units = 300              # embedding size = hidden size (tied weights)
    config.search.num_nodes = 12           # x, h, s0, 8 searched nodes, output
    config.search.primitives = list(search_space.DEFAULT_PRIMITIVES["rnn"])
    config.search.num_samples = 4
    config.search.effectiveness_weight = 0.5
    config.search.prior_strength = 1.0
    config.search.op_costs = "latency"    # as the CNN search (see default_config)
    config.search.litert_threads = 1
    config.search.latency_device = ""
    config.search.latency_table = ""
    config.search.execution = "dense"     # or "sparse", "sparse_biased" (see default_config)
    config.search.probe_rate = execution_modes.DEFAULT_PROBE_RATE
    config.search.search_mode = "joint"
    config.search.replica_sampling = "independent"
    config.search.temperature_schedule = "linear"
    config.search.temperature_start = 5.0
    config.search.temperature_end = 1.0
    config.search.learning_rate = 20.0
    config.search.weight_decay = 5e-7
    config.search.weight_decay_mode = "coupled"   # L2 in the gradient, as DARTS
    config.search.clip_norm = 0.25
    config.search.arch_learning_rate = 3e-3
    config.search.arch_weight_decay = 1e-3
    # Dropout rates (DARTS names): output (dropout), state (dropouth), cell input (dropoutx),
    # embedding features (dropouti), whole words (dropoute).
    config.search.output_dropout = 0.75
    config.search.state_dropout = 0.25
    config.search.cell_input_dropout = 0.75
    config.search.input_dropout = 0.2
    config.search.embedding_dropout = 0.0
    # "sample_and_validate" as the CNN search, once measured on language data (not yet).
    config.search.derive = "most_probable"
    config.search.derive_candidates = 10
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
    config.export = export_section()
    return config


def default_segmentation_config():
    """PASCAL VOC 2012 semantic segmentation on searched cells (DeepLabv3+ settings: output
    stride 16, ASPP rates 6/12/18, 256-channel head and decoder, 48-channel low-level
    projection, poly learning rate 0.007 with power 0.9, 512² crops, scales 0.5–2)."""
    config = ml_collections.ConfigDict()
    config.task = "segmentation"
    config.seed = 0
    # The cells: a published genotype name or a genotype JSON file; "" makes egs-pipeline
    # search them first with `cell_search` (a complete CNN config, classification data).
    config.genotype = ""
    config.cell_search = default_config()

    config.data = ml_collections.ConfigDict()
    config.data.name = "voc2012"          # a key of data.segmentation_datasets.DATASETS
    config.data.data_dir = ""
    config.data.crop_size = 0             # 0: the data set's (VOC 512)
    config.data.eval_size = 0             # 0: the data set's (VOC 512)

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 300             # ≈ 27k steps of 16 on VOC train (1,464 images)
    config.train.batch_size = 16
    config.train.eval_batch_size = 8
    config.train.filters = 48             # DARTS' ImageNet network: 14 cells × 48 filters
    config.train.num_cells = 14
    config.train.output_stride = 16
    config.train.aspp_filters = 256
    config.train.aspp_rates = [6, 12, 18]  # at output stride 16; scaled for 8 and 32
    config.train.decoder_filters = 256
    config.train.low_level_filters = 48
    config.train.dropout = 0.1
    config.train.learning_rate = 0.007
    config.train.learning_rate_power = 0.9  # poly: lr · (1 − step / steps) ** power
    config.train.momentum = 0.9
    config.train.weight_decay = 4e-5
    config.train.weight_decay_mode = "coupled"   # DeepLab: L2 regularisation of the weights
    # An ImageNet evaluation run (egs-train --config=configs/imagenet_eval.py) whose stem and
    # cells initialise the backbone; "" trains from scratch.
    config.train.backbone_run = ""
    config.train.graph_optimizer = True
    config.train.jit_compile = False      # XLA (TPUs: True)
    config.export = export_section()
    return config


def validate_config(config):
    """Checks the fields the code relies on; returns `config` or raises a ValueError naming
    the field, the value and what was expected."""
    task = config.get("task", "cnn")
    if task not in TASKS:
        raise _validation.invalid("config.task", f"one of {list(TASKS)}", task)
    _validation.check_seed("config.seed", config.get("seed", 0))
    _check_export(config.get("export"))
    if task == "rnn":
        return _validate_rnn_config(config)
    if task == "segmentation":
        return _validate_segmentation_config(config)
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
        _check_rate(section, name, "momentum")
    _check_search_rates(search)
    _check_rate(train, "train", "label_smoothing")
    if search.num_nodes < 4:
        raise _validation.invalid("config.search.num_nodes", "an integer >= 4 (2 inputs, at "
                                  "least 1 intermediate node, 1 output)", search.num_nodes)
    _validation.check_positive_int("config.search.num_samples", search.num_samples)
    _validation.check_unit_interval("config.search.effectiveness_weight",
                                    search.effectiveness_weight)
    _check_search_choices(search)
    for field in ("temperature_start", "temperature_end"):
        _validation.check_positive_float(f"config.search.{field}", search[field])
    if search.jit_compile and search.execution != "dense":
        raise _validation.invalid(
            "config.search.jit_compile", 'False with config.search.execution="sparse"', True,
            hint="Sparse execution skips inactive operations with graph switches (Switch/"
                 "Merge), which XLA does not compile; use execution 'dense' with jit_compile.")
    _check_weight_decay(search, "search", ("weight_decay", "arch_weight_decay"))
    _check_weight_decay(train, "train", ("weight_decay",))
    if train.learning_rate_schedule not in LEARNING_RATE_SCHEDULES:
        raise _validation.invalid("config.train.learning_rate_schedule",
                                  f"one of {list(LEARNING_RATE_SCHEDULES)}",
                                  train.learning_rate_schedule)
    _validation.check_positive_float("config.train.learning_rate_power",
                                     train.learning_rate_power)
    if train.stem not in STEMS:
        raise _validation.invalid("config.train.stem", f"one of {list(STEMS)}", train.stem)
    _check_rate(train, "train", "drop_path_rate")
    _validation.check_non_negative_float("config.train.auxiliary_weight",
                                         train.get("auxiliary_weight", 0.0))
    return config


def _check_export(export):
    if export is None:  # (a config saved before the section existed: SavedModel only)
        return
    formats.check_formats(export.formats, "config.export.formats")
    litert.check_quantizations(export.litert_quantizations, "config.export.litert_quantizations")


def prior_and_probes(search):
    """The search network arguments of fields newer than some saved configs: the prior's
    strength and sparse execution's probe rate (their defaults where a config lacks them)."""
    return {"prior_strength": search.get("prior_strength", 1.0),
            "probe_rate": search.get("probe_rate", execution_modes.DEFAULT_PROBE_RATE)}


def _check_rate(section, name, field):
    """A momentum, smoothing or dropout rate: a number in [0, 1)."""
    _validation.check_rate(f"config.{name}.{field}", section[field])


def _check_search_rates(search):
    """The architecture learning rate and the floor of the weights' cosine schedule."""
    _validation.check_positive_float("config.search.arch_learning_rate",
                                     search.arch_learning_rate)
    if "learning_rate_min" in search:
        low = search.learning_rate_min
        if (isinstance(low, bool) or not isinstance(low, (int, float))
                or not 0.0 <= low <= search.learning_rate):
            raise _validation.invalid(
                "config.search.learning_rate_min",
                f"a number in [0, config.search.learning_rate = {search.learning_rate}]", low,
                hint="The cosine schedule decays from learning_rate down to it.")


def _check_weight_decay(section, name, fields):
    for field in fields:
        optimizers.check_weight_decay(f"config.{name}.{field}", section[field])
    if section.weight_decay_mode not in optimizers.WEIGHT_DECAY_MODES:
        raise _validation.invalid(
            f"config.{name}.weight_decay_mode", f"one of {list(optimizers.WEIGHT_DECAY_MODES)}",
            section.weight_decay_mode,
            hint='"coupled" is DARTS\' and the paper\'s L2 in the gradient.')


def _check_search_choices(search):
    choices = [("execution", execution_modes.EXECUTION_MODES), ("search_mode", SEARCH_MODES),
               ("derive", search_space.SEARCH_DERIVATIONS),
               ("replica_sampling", ensemble_gumbel_softmax.REPLICA_SAMPLING),
               ("temperature_schedule", tuple(temperature.SCHEDULES))]
    for field, allowed in choices:
        if search[field] not in allowed:
            raise _validation.invalid(f"config.search.{field}", f"one of {list(allowed)}",
                                      search[field])
    # Fields added after configs were first written: older run directories lack them.
    execution_modes.check_probe_rate(search.get("probe_rate", execution_modes.DEFAULT_PROBE_RATE),
                            "config.search.probe_rate")
    _validation.check_non_negative_float("config.search.prior_strength",
                                         search.get("prior_strength", 1.0))
    _validation.check_positive_int("config.search.derive_candidates",
                                   search.get("derive_candidates", 1))
    edges = search.edges_per_node
    if isinstance(edges, bool) or not isinstance(edges, int) or edges < 0:
        raise _validation.invalid("config.search.edges_per_node",
                                  "0 (keep every edge) or a positive integer", edges)
    costs = search.op_costs
    if isinstance(costs, str) and costs.strip() and costs not in measures.MEASURES:
        expected = (f"one of {list(measures.MEASURES)}, {len(search.primitives)} "
                    "comma-separated numbers (one per operation) or '' (no prior)")
        try:
            numbers = [float(c) for c in costs.split(",")]
        except ValueError:
            raise _validation.invalid("config.search.op_costs", expected, costs) from None
        _validation.check_costs("config.search.op_costs", numbers,
                                num_ops=len(search.primitives))
    _validation.check_positive_int("config.search.litert_threads",
                                   search.get("litert_threads", 1))
    device = search.get("latency_device", "")
    if device and (costs not in measures.MEASURED or not search.latency_table):
        raise _validation.invalid(
            "config.search.latency_device", '"" unless op_costs is "latency" or "litert" and '
            "latency_table names the table measured on that device", device,
            hint="A device's table replaces measuring here; it needs a measured op_costs and "
                 "the table's file.")


_DROPOUTS = ("output_dropout", "state_dropout", "cell_input_dropout", "input_dropout",
             "embedding_dropout")


def _validate_rnn_config(config):
    from egs_keras.data import text_corpora  # noqa: PLC0415 (TFDS builders: import on use)

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
            _check_rate(section, name, field)
    _validation.check_positive_int("config.search.num_samples", search.num_samples)
    if search.num_nodes < 5:
        raise _validation.invalid("config.search.num_nodes", "an integer >= 5",
                                  search.num_nodes)
    _check_search_choices(search)
    _check_search_rates(search)
    _check_weight_decay(search, "search", ("weight_decay", "arch_weight_decay"))
    _check_weight_decay(train, "train", ("weight_decay",))
    if train.averaging_patience < 0:
        raise _validation.invalid("config.train.averaging_patience", "0 (off) or a positive "
                                  "integer", train.averaging_patience)
    return config


def _validate_segmentation_config(config):
    from egs_keras.data import segmentation_datasets  # noqa: PLC0415 (TFDS builders)
    from egs_keras.models import segmentation_network  # noqa: PLC0415

    spec = segmentation_datasets.get_dataset(config.data.name)
    if config.genotype:
        search_space.load_genotype(config.genotype)
    else:
        validate_config(config.cell_search)
    train = config.train
    for field in ("epochs", "batch_size", "eval_batch_size", "filters", "num_cells",
                  "aspp_filters", "decoder_filters", "low_level_filters"):
        _validation.check_positive_int(f"config.train.{field}", train[field])
    for field in ("learning_rate", "learning_rate_power"):
        _validation.check_positive_float(f"config.train.{field}", train[field])
    if train.output_stride not in segmentation_network.OUTPUT_STRIDES:
        raise _validation.invalid("config.train.output_stride",
                                  f"one of {list(segmentation_network.OUTPUT_STRIDES)}",
                                  train.output_stride)
    _check_rate(train, "train", "dropout")
    _check_rate(train, "train", "momentum")
    _check_weight_decay(train, "train", ("weight_decay",))
    for field in ("crop_size", "eval_size"):
        size = config.data[field] or getattr(spec, field)
        if size <= 0 or size % train.output_stride:
            raise _validation.invalid(
                f"config.data.{field}", "0 (the data set's) or a positive multiple of "
                f"config.train.output_stride ({train.output_stride})", config.data[field])
    return config
