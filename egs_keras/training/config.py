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
from egs_keras import search_space
from egs_keras.data import image_datasets
from egs_keras.layers.egs_mixed_op import EXECUTION_MODES
from egs_keras.models.architecture_search import SEARCH_MODES
from egs_keras.models.evaluation_network import STEMS


def default_config():
    """The paper's CIFAR-10 settings (search at M = 7, evaluation of 20 cells × 36 filters)."""
    config = ml_collections.ConfigDict()
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
    config.search.primitives = list(search_space.CNN_PRIMITIVES)
    config.search.num_samples = 7                 # M
    config.search.effectiveness_weight = 0.5      # λ
    # Cost prior: "" (none), "parameters", "multiply_adds", or K comma-separated numbers.
    config.search.op_costs = ""
    config.search.execution = "dense"             # exact gradients; sparse: see README
    config.search.renormalize = False
    config.search.search_mode = "joint"
    config.search.replica_sampling = "independent"  # or "shared" (tf.distribute replicas)
    config.search.temperature_schedule = "linear"
    config.search.temperature_start = 5.0
    config.search.temperature_end = 1.0
    config.search.learning_rate = 0.025
    config.search.learning_rate_min = 0.001
    config.search.momentum = 0.9
    config.search.weight_decay = 3e-4
    config.search.arch_learning_rate = 3e-4
    config.search.arch_weight_decay = 1e-3
    config.search.derive = "most_probable"
    config.search.graph_optimizer = True          # off: faster first step, slower steps

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
    config.train.label_smoothing = 0.0
    config.train.graph_optimizer = True           # Grappler on, as TensorFlow defaults
    return config


def validate_config(config):
    """Checks the fields the code relies on; returns `config` or raises a ValueError naming
    the field, the value and what was expected."""
    image_datasets.get_dataset(config.data.name)
    if config.data.image_size < 0:
        raise _validation.invalid("config.data.image_size", "0 or a positive integer",
                                  config.data.image_size)
    search, train = config.search, config.train
    for section, name in [(search, "search"), (train, "train")]:
        for field in ("epochs", "batch_size", "filters", "num_cells"):
            _validation.check_positive_int(f"config.{name}.{field}", section[field])
        _validation.check_positive_float(f"config.{name}.learning_rate", section.learning_rate)
    _validation.check_positive_int("config.search.num_samples", search.num_samples)
    if search.num_samples > len(search.primitives):
        raise _validation.invalid(
            "config.search.num_samples",
            f"at most the number of operations ({len(search.primitives)})", search.num_samples,
            hint="More samples cannot switch on more operations than there are.")
    _validation.check_unit_interval("config.search.effectiveness_weight",
                                    search.effectiveness_weight)
    choices = [("execution", EXECUTION_MODES), ("search_mode", SEARCH_MODES),
               ("derive", ("most_probable", "sample")),
               ("replica_sampling", ("independent", "shared")),
               ("temperature_schedule", ("linear", "exponential"))]
    for field, allowed in choices:
        if search[field] not in allowed:
            raise _validation.invalid(f"config.search.{field}", f"one of {list(allowed)}",
                                      search[field])
    for field in ("temperature_start", "temperature_end"):
        _validation.check_positive_float(f"config.search.{field}", search[field])
    if train.stem not in STEMS:
        raise _validation.invalid("config.train.stem", f"one of {list(STEMS)}", train.stem)
    if not 0.0 <= train.drop_path_rate < 1.0:
        raise _validation.invalid("config.train.drop_path_rate", "a number in [0, 1)",
                                  train.drop_path_rate)
    return config
