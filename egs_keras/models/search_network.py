"""`EGSSearchNetwork`: the CNN search network, trained with `model.fit` (joint or bilevel)."""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras._compat import in_symbolic_scope
from egs_keras.layers import batch_norm
from egs_keras.layers import execution_modes
from egs_keras.layers import operations
from egs_keras.layers.egs_cell import EGSCell
from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
from egs_keras.models.architecture_search import check_search_mode
from egs_keras.models.cell_search import CellSearch
from egs_keras.ops import code_distribution
from egs_keras.ops import gating

CELL_TYPES = search_space.CELL_NAMES["cnn"]


def cell_plan(image_shape, filters, num_cells):
    """(reduction, filters, input side (height, width)) of each cell of the search network:
    reductions at 1/3 and 2/3 of the depth double the filters and halve the side.

    >>> cell_plan((32, 32, 3), 16, 3)
    [(False, 16, (32, 32)), (True, 32, (32, 32)), (True, 64, (16, 16))]
    """
    plan, side = [], tuple(image_shape[:2])
    for c in range(num_cells):
        reduction = c in (num_cells // 3, 2 * num_cells // 3)
        filters *= 2 if reduction else 1
        plan.append((reduction, filters, side))
        if reduction:
            side = tuple(-(-d // 2) for d in side)
    return plan


@keras.saving.register_keras_serializable(package="egs_keras")
class EGSSearchNetwork(CellSearch, keras.Model):
    """Stem, `num_cells` EGS cells (reductions at 1/3 and 2/3 of the depth), classifier.

    The architecture is two `EnsembleGumbelSoftmax` decisions with logits `[num_edges, K]`,
    one per cell type ("normal", "reduce"), shared by all cells of that type; each training
    step draws one code per type. In inference (`evaluate`, `predict`) the network uses the
    most probable codes.

    `train_step` has two modes (`search_mode`):

    * "joint" (the paper): one backward pass on a training batch; the weights are updated by
      `optimizer`, the logits by `arch_optimizer`. Fit on ordinary `(x, y)` batches.
    * "bilevel" (DARTS first order): the logits step on a validation batch, then the weights
      step on a training batch. Fit on a dataset of `((x_train, y_train), (x_val, y_val))`,
      e.g. `tf.data.Dataset.zip((train, val))`.

    Each step also reports `temperature`, `alpha_entropy` (mean entropy of p per edge, in
    nats), `active_ops` (expected number of operations per edge, Σ_k 1 − (1 − p_k)^M) and
    `parameter_free_ops` (operations without weights in the most probable normal cell: the
    skip-connection collapse shows up here).

    Args:
        num_classes: classifier outputs (logits).
        input_shape: `(height, width, channels)` of the images; the network is built from it.
        filters: channels of the first cells (doubled at each reduction).
        num_cells: number of cells (paper search: 8).
        num_nodes: nodes per cell, inputs and output included (paper: 7).
        primitives: candidate operation names.
        num_samples: M of the Ensemble Gumbel-Softmax.
        temperature: initial τ (anneal with `TemperatureScheduler`).
        op_costs, effectiveness_weight: the cost prior (see `EnsembleGumbelSoftmax`):
            `op_costs` is K costs for both cell types, or {"normal": costs, "reduce":
            costs} with `[K]` or `[num_edges, K]` costs per type (`costs.edge_tables` builds
            these tables from measured latency, parameters or multiply-adds). `none` takes
            no part in it (it keeps the uniform share 1/K of l: no connection is not a cheap
            operation).
        prior_strength: β in l ∝ exp(−β · cost / max cost) (see `egs_keras.ops.cost_prior`).
        execution: "dense", "sparse" or "sparse_biased" (see `EGSMixedOp`). Sparse
            executions draw the codes on the host (see `gating.on_host`).
        probe_rate: with "sparse", the probability that an inactive operation is computed
            anyway in a training step (its α-gradient then weighs 1 / probe_rate, which
            makes the α-gradient an unbiased estimate of dense execution's).
        renormalize: see `EGSMixedOp`.
        search_mode: "joint" or "bilevel".
        stem_multiplier: the stem has `stem_multiplier · filters` channels.
        seed: seed of the logits' initialisation and of the Gumbel noise.
        replica_sampling: under `tf.distribute`, "independent" (each replica draws its own
            architecture) or "shared" (see `EnsembleGumbelSoftmax`).

    Example:

    >>> model = EGSSearchNetwork(num_classes=10, input_shape=(16, 16, 3), filters=4,
    ...                          num_cells=3, num_samples=4, execution="sparse")
    >>> model.compile(optimizer=keras.optimizers.SGD(0.025, momentum=0.9),
    ...               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...               metrics=["accuracy"])
    >>> # model.fit(train_ds, epochs=..., callbacks=[TemperatureScheduler(...)])
    >>> # model.genotype() -> Genotype
    """

    def __init__(self, num_classes=10, input_shape=(32, 32, 3), filters=16, num_cells=8,
                 num_nodes=7, primitives=search_space.CNN_PRIMITIVES, num_samples=7,
                 temperature=1.0, op_costs=None, effectiveness_weight=0.5, execution="dense",
                 renormalize=False, search_mode="joint", stem_multiplier=3, seed=0,
                 replica_sampling="independent", prior_strength=1.0,
                 probe_rate=execution_modes.DEFAULT_PROBE_RATE, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _validation.check_positive_int("num_classes", num_classes)
        self.image_shape = _validation.check_image_shape("input_shape", input_shape)
        self.filters = _validation.check_positive_int("filters", filters)
        self.num_cells = _validation.check_positive_int("num_cells", num_cells)
        self.num_nodes = num_nodes
        self.primitives = operations.check_operation_names(primitives)
        self.num_samples = _validation.check_positive_int("num_samples", num_samples)
        self.search_mode = check_search_mode(search_mode)
        self.temperature = temperature
        self.op_costs = op_costs
        self.effectiveness_weight = effectiveness_weight
        self.prior_strength = prior_strength
        self.execution = execution_modes.check_execution(execution)
        self.probe_rate = execution_modes.check_probe_rate(probe_rate)
        self.renormalize = renormalize
        self.stem_multiplier = _validation.check_positive_int("stem_multiplier", stem_multiplier)
        self.seed = int(seed)
        self.replica_sampling = replica_sampling
        self.genotype_kind, self.genotype_inputs = "cnn", 2

        self.stem = keras.layers.Conv2D(stem_multiplier * filters, 3, padding="same",
                                        use_bias=False, name="stem_conv")
        self.stem_bn = batch_norm.BatchNorm(track_statistics=False, name="stem_bn")
        self.cells = []
        reduction_prev = False
        for c, (reduction, cell_filters, _) in enumerate(
                cell_plan(self.image_shape, filters, num_cells)):
            self.cells.append(EGSCell(cell_filters, num_nodes, reduction, reduction_prev,
                                      self.primitives, execution, renormalize, name=f"cell_{c}"))
            reduction_prev = reduction
        self.classifier = keras.layers.Dense(num_classes, name="classifier")
        num_edges = len(self.cells[0].edges)
        costs = op_costs if isinstance(op_costs, dict) else dict.fromkeys(CELL_TYPES, op_costs)
        if sorted(costs) != sorted(CELL_TYPES):
            raise _validation.invalid("op_costs", 'K costs, or {"normal": costs, "reduce": '
                                      "costs}", op_costs)
        neutral = [k for k, name in enumerate(self.primitives) if name == search_space.NONE]
        self.decisions = {
            cell_type: EnsembleGumbelSoftmax(
                self.num_samples, temperature, costs[cell_type], effectiveness_weight,
                logits_shape=(num_edges, len(self.primitives)),
                logits_initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed + i),
                seed=seed + i, replica_sampling=replica_sampling, prior_strength=prior_strength,
                neutral_ops=neutral or None, name=f"{cell_type}_alphas")
            for i, cell_type in enumerate(CELL_TYPES)
        }
        self.supports_jit = execution == "dense"
        self.build((None, *self.image_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes, input_shape=list(self.image_shape),
            filters=self.filters, num_cells=self.num_cells, num_nodes=self.num_nodes,
            primitives=list(self.primitives), num_samples=self.num_samples,
            temperature=self.temperature, op_costs=self.op_costs,
            effectiveness_weight=self.effectiveness_weight, execution=self.execution,
            renormalize=self.renormalize, search_mode=self.search_mode,
            stem_multiplier=self.stem_multiplier, seed=self.seed,
            replica_sampling=self.replica_sampling, prior_strength=self.prior_strength,
            probe_rate=self.probe_rate)
        return config

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = self.stem.compute_output_shape(input_shape)
        self.stem_bn.build(shape)
        for decision in self.decisions.values():
            decision.build()
        shapes = [shape, shape]
        for cell in self.cells:
            codes_shape = self.decisions["normal"].logits_shape
            cell.build(shapes, codes_shape)
            shapes = [shapes[1], cell.compute_output_shape(shapes, codes_shape)]
        self.classifier.build((None, shapes[1][-1]))
        self.built = True

    def call(self, inputs, training=None):
        if in_symbolic_scope():
            return tf.zeros([tf.shape(inputs)[0], self.num_classes], self.compute_dtype)
        sparse = self.execution in execution_modes.SPARSE_MODES
        probes = dict.fromkeys(self.decisions)
        with gating.on_host() if sparse else contextlib.nullcontext():
            codes = {t: d(training=training) for t, d in self.decisions.items()}
            if training and self.execution == "sparse":
                probes = {t: execution_modes.probe_weights(
                    d.probe_mask(self.probe_rate, d.sample_count.value), codes[t],
                    self.probe_rate) for t, d in self.decisions.items()}
        x = self.stem_bn(self.stem(inputs), training=training)
        s0 = s1 = x
        for cell in self.cells:
            cell_type = "reduce" if cell.reduction else "normal"
            s0, s1 = s1, cell([s0, s1], codes[cell_type], training=training,
                              probe_weights=probes[cell_type])
        return self.classifier(tf.reduce_mean(s1, axis=[1, 2]))

    def _parameter_free_mask(self):
        """1 for primitives without weights in a normal cell (`none` excluded)."""
        normal_cell = next((c for c in self.cells if not c.reduction), self.cells[0])
        edge = normal_cell.edge_ops[-1]
        return np.array([1.0 if k in edge.candidates and not edge.has_weights(k) else 0.0
                         for k in range(len(self.primitives))])

    def extra_statistics(self, probabilities):
        """`parameter_free_ops`: operations without weights in the most probable normal cell."""
        normal_code = code_distribution.most_probable_code(probabilities["normal"],
                                                           self.num_samples)
        free = tf.constant(self._parameter_free_mask(), tf.float32)
        return {"parameter_free_ops": tf.reduce_sum(normal_code * free)}
