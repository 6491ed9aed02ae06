"""What the configs of all tasks share: the export section, and the checks of fields that
several tasks' configs hold (seed, export, rates, weight decay, the search's choices and
prior), each with a clear error.

Each task's defaults and its own checks live in its module of `egs_keras.runs`
(`classification.default_config()`, `language.default_config()`,
`segmentation.default_config()`); `runs.tasks.validate_config` checks a config of any task.
Experiment files in `configs/` start from a task's defaults and change what differs; the
trainers accept `--config=configs/<file>.py` and overrides such as `--config.search.epochs=3`.

>>> check_rate(ml_collections.ConfigDict({"dropout": 1.5}), "train", "dropout")
Traceback (most recent call last):
ValueError: ...
"""

import ml_collections

from egs_keras import _validation
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.export import formats
from egs_keras.export import litert
from egs_keras.layers import ensemble_gumbel_softmax
from egs_keras.layers import execution_modes
from egs_keras.models.architecture_search import SEARCH_MODES
from egs_keras.training import temperature


def export_section():
    """What `egs-pipeline` exports after training (`runs.export.export_training_run`)."""
    export = ml_collections.ConfigDict()
    export.formats = "saved_model"        # "saved_model,litert": also .tflite files (LiteRT)
    export.litert_quantizations = ",".join(litert.QUANTIZATIONS)  # float32, dynamic_range, int8
    return export


def search_section():
    """The fields every task's search shares, with their defaults: how the EGS decisions
    sample (λ, β, the prior and its costs, execution, mode, τ) and α's weight decay. A task
    adds its network's shape, data and learning rates (`classification.default_config`)."""
    search = ml_collections.ConfigDict()
    search.effectiveness_weight = 0.5      # λ
    # β: l ∝ exp(−β · cost / max cost) (0: uniform l; docs/recipe.md's sensitivity table).
    search.prior_strength = 1.0
    # The paper's prior: p = λ·softmax(α) + (1 − λ)·l, l from each operation's measured
    # forward + backward "latency" on the run's device at its shape in the search network
    # (or "parameters", "multiply_adds", "litert", K comma-separated numbers; "": no prior,
    # p = softmax(α)). The latencies are kept in <workdir>/latency.json, or in this file:
    search.op_costs = "latency"
    search.latency_table = ""
    # op_costs "litert": one inference of one example in LiteRT's interpreter, this many
    # threads (docs/litert.md, "Searching for LiteRT latency").
    search.litert_threads = 1
    # A device the latency_table was measured on (e.g. "pixel-7-litert-4-threads"): its rows
    # are the prior and nothing is measured here; "": measure on this machine.
    search.latency_device = ""
    # "dense": every operation computed (the paper's gradient); "sparse": the active ones and
    # a random share `probe_rate` of the others (unbiased α-gradient, faster); "sparse_biased":
    # the active ones only (GDAS-like, biased). docs/search.md, "Execution".
    search.execution = "dense"
    search.probe_rate = execution_modes.DEFAULT_PROBE_RATE
    search.search_mode = "joint"           # or "bilevel" (DARTS' first order)
    search.replica_sampling = "independent"  # or "shared" (tf.distribute replicas)
    search.temperature_schedule = "linear"   # or "exponential"
    search.temperature_start = 5.0
    search.temperature_end = 1.0
    # Weight decay as DARTS and the paper apply it: "coupled" = L2 added to the gradient
    # (PyTorch's weight_decay), for the weights and α; "decoupled" = Keras' (SGDW / AdamW).
    search.weight_decay_mode = "coupled"
    search.arch_weight_decay = 1e-3
    search.derive_candidates = 10          # with derive "sample_and_validate"
    return search


def check_shared(config):
    """Checks what every task's config has (the seed, the export section); returns `config`.
    Each task checks its own fields (`runs.tasks.validate_config` runs both)."""
    _validation.check_seed("config.seed", config.get("seed", 0))
    check_export(config.get("export"))
    return config


def check_export(export):
    if export is None:  # (a config saved before the section existed: SavedModel only)
        return
    formats.check_formats(export.formats, "config.export.formats")
    litert.check_quantizations(export.litert_quantizations, "config.export.litert_quantizations")


def prior_and_probes(search):
    """The search network arguments of fields newer than some saved configs: the prior's
    strength and sparse execution's probe rate (their defaults where a config lacks them)."""
    return {"prior_strength": search.get("prior_strength", 1.0),
            "probe_rate": search.get("probe_rate", execution_modes.DEFAULT_PROBE_RATE)}


def check_rate(section, name, field):
    """A momentum, smoothing or dropout rate: a number in [0, 1)."""
    _validation.check_rate(f"config.{name}.{field}", section[field])


def check_search_rates(search):
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


def check_weight_decay(section, name, fields):
    for field in fields:
        optimizers.check_weight_decay(f"config.{name}.{field}", section[field])
    if section.weight_decay_mode not in optimizers.WEIGHT_DECAY_MODES:
        raise _validation.invalid(
            f"config.{name}.weight_decay_mode", f"one of {list(optimizers.WEIGHT_DECAY_MODES)}",
            section.weight_decay_mode,
            hint='"coupled" is DARTS\' and the paper\'s L2 in the gradient.')


def check_search_choices(search):
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


