"""`EGSSearchNetwork`: the CNN search network, trained with `model.fit` (joint or bilevel)."""

import keras
import numpy as np
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.layers import operations
from egs_keras.layers.egs_cell import EGSCell
from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
from egs_keras.ops import code_distribution

SEARCH_MODES = ("joint", "bilevel")

try:  # Keras traces the whole network once just to learn its output shape; we know it.
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope
except ImportError:  # pragma: no cover - other Keras versions: pay for the extra trace

    def in_symbolic_scope():
        return False


@keras.saving.register_keras_serializable(package="egs_keras")
class EGSSearchNetwork(keras.Model):
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
        op_costs, effectiveness_weight: the cost prior (see `EnsembleGumbelSoftmax`).
        execution: "dense" or "sparse" (see `EGSMixedOp`).
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
                 replica_sampling="independent", **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _validation.check_positive_int("num_classes", num_classes)
        self.image_shape = _validation.check_image_shape("input_shape", input_shape)
        self.filters = _validation.check_positive_int("filters", filters)
        self.num_cells = _validation.check_positive_int("num_cells", num_cells)
        self.num_nodes = num_nodes
        self.primitives = operations.check_operation_names(primitives)
        self.num_samples = _validation.check_positive_int("num_samples", num_samples)
        if self.num_samples > len(self.primitives):
            raise _validation.invalid(
                "num_samples", f"at most the number of primitives ({len(self.primitives)}); "
                "more samples cannot switch on more operations", num_samples)
        if search_mode not in SEARCH_MODES:
            raise _validation.invalid("search_mode", f"one of {list(SEARCH_MODES)}", search_mode)
        self.search_mode = search_mode
        self.temperature = temperature
        self.op_costs = op_costs
        self.effectiveness_weight = effectiveness_weight
        self.execution = execution
        self.renormalize = renormalize
        self.stem_multiplier = _validation.check_positive_int("stem_multiplier", stem_multiplier)
        self.seed = int(seed)
        self.replica_sampling = replica_sampling
        self.arch_optimizer = None

        self.stem = keras.layers.Conv2D(stem_multiplier * filters, 3, padding="same",
                                        use_bias=False, name="stem_conv")
        self.stem_bn = operations.BatchNorm(track_statistics=False, name="stem_bn")
        self.cells = []
        cell_filters, reduction_prev = filters, False
        for c in range(num_cells):
            reduction = c in (num_cells // 3, 2 * num_cells // 3)
            cell_filters *= 2 if reduction else 1
            self.cells.append(EGSCell(cell_filters, num_nodes, reduction, reduction_prev,
                                      self.primitives, execution, renormalize, name=f"cell_{c}"))
            reduction_prev = reduction
        self.classifier = keras.layers.Dense(num_classes, name="classifier")
        num_edges = len(self.cells[0].edges)
        self.decisions = {
            cell_type: EnsembleGumbelSoftmax(
                self.num_samples, temperature, op_costs, effectiveness_weight,
                logits_shape=(num_edges, len(self.primitives)),
                logits_initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed + i),
                seed=seed + i, replica_sampling=replica_sampling, name=f"{cell_type}_alphas")
            for i, cell_type in enumerate(("normal", "reduce"))
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
            replica_sampling=self.replica_sampling)
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
        codes = {t: d(training=training) for t, d in self.decisions.items()}
        x = self.stem_bn(self.stem(inputs), training=training)
        s0 = s1 = x
        for cell in self.cells:
            cell_codes = codes["reduce" if cell.reduction else "normal"]
            s0, s1 = s1, cell([s0, s1], cell_codes, training=training)
        return self.classifier(tf.reduce_mean(s1, axis=[1, 2]))

    @property
    def arch_variables(self):
        """The architecture logits α (normal, reduce)."""
        return [d.logits for d in self.decisions.values()]

    @property
    def network_variables(self):
        """All trainable weights except α."""
        arch = {id(v) for v in self.arch_variables}
        return [v for v in self.trainable_variables if id(v) not in arch]

    def compile(self, optimizer="sgd", arch_optimizer=None, **kwargs):
        """Keras `compile` plus `arch_optimizer` for α (default: Adam 3e-4, β1 = 0.5, DARTS)."""
        super().compile(optimizer=optimizer, **kwargs)
        if arch_optimizer is None:
            arch_optimizer = keras.optimizers.Adam(3e-4, beta_1=0.5, weight_decay=1e-3)
        self.arch_optimizer = keras.optimizers.get(arch_optimizer)
        self.arch_optimizer.build(self.arch_variables)
        self.optimizer.build(self.network_variables)

    def get_compile_config(self):
        """Keras' compile config plus `arch_optimizer`, so `.keras` files restore both."""
        config = super().get_compile_config()
        if config is not None and self.arch_optimizer is not None:
            config["arch_optimizer"] = keras.saving.serialize_keras_object(self.arch_optimizer)
        return config

    def compile_from_config(self, config):
        """Recompiles a loaded model (Keras skips models with a custom `compile`)."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def train_step(self, data):
        if self.search_mode == "bilevel":
            if not (isinstance(data, (tuple, list)) and len(data) == 2
                    and isinstance(data[0], (tuple, list))):
                raise ValueError(
                    "search_mode='bilevel' expects batches ((x_train, y_train), (x_val, "
                    "y_val)), e.g. tf.data.Dataset.zip((train, val)); got another structure.")
            train, val = data
            self._gradient_step(val, self.arch_variables, self.arch_optimizer, track=False)
            x, y, y_pred, sample_weight = self._gradient_step(
                train, self.network_variables, self.optimizer, track=True)
        else:
            x, y, y_pred, sample_weight = self._gradient_step(
                data, self.trainable_variables, None, track=True)
        logs = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return {**logs, **self.architecture_statistics()}

    def _gradient_step(self, data, variables, optimizer, track):
        """One forward/backward pass; `optimizer=None` means joint: each optimizer gets its own
        variables' gradients from the same pass."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        scaler = optimizer or self.optimizer
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
            if track:
                self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            loss = scaler.scale_loss(loss)
        pairs = list(zip(tape.gradient(loss, variables), variables, strict=True))
        if optimizer is not None:
            optimizer.apply_gradients(pairs)
        else:
            # The loss was scaled for `optimizer` (mixed precision); loss scaling is linear, so
            # re-scale α's gradients to what `arch_optimizer` expects.
            ratio = self.arch_optimizer.scale_loss(1.0) / self.optimizer.scale_loss(1.0)
            arch = {id(v) for v in self.arch_variables}
            self.optimizer.apply_gradients([p for p in pairs if id(p[1]) not in arch])
            self.arch_optimizer.apply_gradients(
                [(None if g is None else g * ratio, v) for g, v in pairs if id(v) in arch])
        return x, y, y_pred, sample_weight

    def probabilities(self):
        """{cell type: p of every edge, [num_edges, K] float32 tensor}."""
        return {t: d.probabilities() for t, d in self.decisions.items()}

    def architecture_statistics(self):
        """Scalars describing α: temperature, entropy, expected active ops, parameter-free ops."""
        probs = self.probabilities()
        stacked = tf.concat(list(probs.values()), axis=0)
        entropy = -tf.reduce_sum(stacked * tf.math.log(tf.maximum(stacked, 1e-12)), axis=-1)
        inclusion = code_distribution.inclusion_probability(stacked, self.num_samples)
        normal_code = code_distribution.most_probable_code(probs["normal"], self.num_samples)
        free = tf.constant(self._parameter_free_mask(), tf.float32)
        return {
            "temperature": tf.convert_to_tensor(self.decisions["normal"].temperature_variable),
            "alpha_entropy": tf.reduce_mean(entropy),
            "active_ops": tf.reduce_mean(tf.reduce_sum(inclusion, axis=-1)),
            "parameter_free_ops": tf.reduce_sum(normal_code * free),
        }

    def _parameter_free_mask(self):
        """1 for primitives without weights in a normal cell (`none` excluded)."""
        normal_cell = next((c for c in self.cells if not c.reduction), self.cells[0])
        candidates = normal_cell.edge_ops[-1].candidates
        return np.array([1.0 if k in candidates and not candidates[k].trainable_weights else 0.0
                         for k in range(len(self.primitives))])

    def genotype(self, strategy="most_probable", seed=None):
        """Derives the genotype (see `search_space.derive_genotype`)."""
        probs = {t: np.asarray(p) for t, p in self.probabilities().items()}
        return search_space.derive_genotype(
            probs, self.num_samples, kind="cnn", primitives=self.primitives,
            strategy=strategy, seed=seed, num_inputs=2)
