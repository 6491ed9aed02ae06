"""`ArchitectureSearch`: what every EGS search model adds to `keras.Model` (DARTS cell networks,
`SearchModel` over any Keras candidates).

A search model owns `decisions`, a dict {decision name (a cell type for DARTS networks):
`EnsembleGumbelSoftmax` owning logits, e.g. `[num_edges, K]`}, and sets `search_mode`. The
mixin gives it:

* `compile(..., arch_optimizer=...)` and `.keras` round trips of both optimizers;
* `train_step` in two modes: "joint" (the paper: one backward pass on a training batch, the
  weights updated by `optimizer`, the logits by `arch_optimizer`) and "bilevel" (DARTS first
  order: the logits step on a validation batch, then the weights on a training batch; fit on
  `((x_train, y_train), (x_val, y_val))` batches, e.g. `tf.data.Dataset.zip((train, val))`);
* `arch_variables` / `network_variables`, `probabilities()`, `preferences()` and
  `architecture_statistics()` (logged every step: `temperature`, `alpha_entropy`,
  `active_ops`);
* `fixed_architecture()`: inference with given codes instead of the most probable ones, to
  score sampled architectures with the shared weights (the paper's derivation).

Usage: `class MySearchModel(ArchitectureSearch, keras.Model)`. The DARTS cell networks derive
genotypes too: they use `cell_search.CellSearch`.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from egs_keras import _compat
from egs_keras import _validation
from egs_keras import optimizers
from egs_keras.models import replica_steps
from egs_keras.models.one_level_steps import OneLevelSteps
from egs_keras.ops import code_distribution

SEARCH_MODES = ("joint", "bilevel")

def check_search_mode(search_mode):
    if search_mode not in SEARCH_MODES:
        raise _validation.invalid("search_mode", f"one of {list(SEARCH_MODES)}", search_mode)
    return search_mode


class ArchitectureSearch(OneLevelSteps):
    """Mixin for `keras.Model` subclasses that search an architecture (see the module doc);
    its train and test steps compile as one `tf.function` (`OneLevelSteps`)."""

    arch_optimizer = None

    @property
    def arch_variables(self):
        """The architecture logits α, one tensor per cell type."""
        return [d.logits for d in self.decisions.values()]

    @property
    def network_variables(self):
        """All trainable weights except α."""
        arch = {id(v) for v in self.arch_variables}
        return [v for v in self.trainable_variables if id(v) not in arch]

    def compile(self, optimizer="sgd", loss=None, metrics=None, *, arch_optimizer=None,
                **kwargs):
        """Keras `compile` plus `arch_optimizer` for α (default DARTS': Adam 3e-4, β1 = 0.5,
        coupled weight decay 1e-3, see `egs_keras.optimizers`)."""
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        if arch_optimizer is None:
            arch_optimizer = optimizers.CoupledWeightDecay(
                keras.optimizers.Adam(3e-4, beta_1=0.5), weight_decay=1e-3)
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
            if self._shares_bilevel_pass():
                x, y, y_pred, sample_weight = self._shared_bilevel_step(train, val)
            else:
                self._gradient_step(val, self.arch_variables, self.arch_optimizer,
                                    "validation")
                x, y, y_pred, sample_weight = self._gradient_step(
                    train, self.network_variables, self.optimizer, "train")
        else:
            x, y, y_pred, sample_weight = self._gradient_step(
                data, self.trainable_variables, None, "train")
        logs = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return {**logs, **self.architecture_statistics()}

    def search_forward(self, x, stream):
        """The training forward pass on a batch of `stream` ("train" or "validation");
        models that keep per-stream state (language models) override it."""
        del stream
        return self(x, training=True)

    def _gradient_step(self, data, variables, optimizer, stream):
        """One forward/backward pass; `optimizer=None` means joint: each optimizer gets its own
        variables' gradients from the same pass."""
        x, y, sample_weight, y_pred, pairs = replica_steps.gradient_pass(
            self, data, variables, forward=lambda x: self.search_forward(x, stream),
            scaler=optimizer, track_loss=stream == "train")
        if optimizer is not None:
            optimizer.apply_gradients(replica_steps.synchronized_gradients(pairs, optimizer))
        else:
            # The loss was scaled for `optimizer` (mixed precision); loss scaling is linear, so
            # re-scale α's gradients to what `arch_optimizer` expects.
            ratio = self.arch_optimizer.scale_loss(1.0) / self.optimizer.scale_loss(1.0)
            arch = {id(v) for v in self.arch_variables}
            self.optimizer.apply_gradients(replica_steps.synchronized_gradients(
                [p for p in pairs if id(p[1]) not in arch], self.optimizer))
            self.arch_optimizer.apply_gradients(replica_steps.synchronized_gradients(
                [(None if g is None else g * ratio, v) for g, v in pairs if id(v) in arch],
                self.arch_optimizer))
        return x, y, y_pred, sample_weight

    def _shares_bilevel_pass(self):
        """Whether the two passes of a bilevel step run one traced function: on one device
        (not under a `tf.distribute` strategy, whose variables a called function would
        capture per replica) and without XLA."""
        return not tf.distribute.has_strategy() and not getattr(self, "jit_compile", False)

    def _shared_bilevel_step(self, train, val):
        """DARTS' first-order step (α on `val`, then the weights on `train`) with both passes
        through one traced, not inlined, function (`_shared_pass`): the step's graph holds
        one forward/backward pass instead of two, so it traces in about half the time and
        holds less memory (benchmarks/PERFORMANCE_NOTES.md). The α pass also computes the
        weights' gradients and discards them: what each optimizer applies is unchanged."""
        arch = {id(v) for v in self.arch_variables}
        _, _, _, _, gradients = self._shared_pass(val, "validation", self.arch_optimizer)
        self.arch_optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, self.trainable_variables, strict=True)
             if id(v) in arch])
        x, y, sample_weight, y_pred, gradients = self._shared_pass(train, "train",
                                                                   self.optimizer)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, self.trainable_variables, strict=True)
             if id(v) not in arch])
        return x, y, y_pred, sample_weight

    def _shared_pass(self, data, stream, scaler):
        """(x, y, sample_weight, y_pred, gradients of every trainable variable) of one pass
        on `data`, the loss scaled for `scaler` (mixed precision) and logged for "train".
        Models whose `search_forward` depends on the stream (per-stream state) get one
        function per stream."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        per_stream = type(self).search_forward is not ArchitectureSearch.search_forward
        key = stream if per_stream else "any"
        functions = self.__dict__.get("_pass_functions")
        if functions is None:
            functions = {}
            object.__setattr__(self, "_pass_functions", functions)  # not a tracked attribute
        if key not in functions:
            variables = self.trainable_variables

            def one_pass(x, y, sample_weight, scale):
                with tf.GradientTape() as tape:
                    y_pred = self.search_forward(x, stream)
                    value = self.compute_loss(x=x, y=y, y_pred=y_pred,
                                              sample_weight=sample_weight, training=True)
                    scaled = value * tf.cast(scale, value.dtype)
                return value, y_pred, tape.gradient(scaled, variables)

            functions[key] = tf.function(one_pass, autograph=False,
                                         experimental_attributes={"_noinline": True})
        scale = tf.cast(scaler.scale_loss(tf.constant(1.0)), tf.float32)
        value, y_pred, gradients = functions[key](x, y, sample_weight, scale)
        if stream == "train":
            _compat.loss_tracker(self).update_state(replica_steps.global_loss(value),
                                                    sample_weight=tf.shape(x)[0])
        return x, y, sample_weight, y_pred, gradients

    def probabilities(self):
        """{decision name (the cell type for DARTS networks): p, e.g. `[num_edges, K]`}."""
        return {t: d.probabilities() for t, d in self.decisions.items()}

    def architecture_statistics(self):
        """Scalars describing α: τ, mean entropy of p per edge (nats), expected active
        operations per edge (Σ_k 1 − (1 − p_k)^M), plus the model's `extra_statistics`."""
        probs = self.probabilities()
        entropies, actives = [], []
        for name, p in probs.items():  # decisions may differ in K and M (SearchModel)
            rows = tf.reshape(p, [-1, p.shape[-1]])
            entropies.append(-tf.reduce_sum(rows * tf.math.log(tf.maximum(rows, 1e-12)), -1))
            inclusion = code_distribution.inclusion_probability(
                rows, self.decisions[name].num_samples)
            actives.append(tf.reduce_sum(inclusion, axis=-1))
        first = next(iter(self.decisions.values()))
        return {
            "temperature": tf.convert_to_tensor(first.temperature_variable),
            "alpha_entropy": tf.reduce_mean(tf.concat(entropies, 0)),
            "active_ops": tf.reduce_mean(tf.concat(actives, 0)),
            **self.extra_statistics(probs),
        }

    def extra_statistics(self, probabilities):
        """Model-specific scalars logged with the architecture statistics (default none)."""
        del probabilities
        return {}

    def preferences(self):
        """{decision name: h = softmax(α)}: what the search learned, without the prior."""
        return {t: d.preferences() for t, d in self.decisions.items()}

    @contextlib.contextmanager
    def fixed_architecture(self):
        """Within the block, inference (`evaluate`, `predict`, `training=False`) computes the
        architecture given to the yielded function, {decision name: code of the logits'
        shape} (e.g. `search_space.genotype_codes(genotype)`), with the network's current
        weights, instead of the most probable codes. Compiled test steps are traced again
        on entry and on exit; changing the codes inside the block needs no new trace.

        >>> with model.fixed_architecture() as use:                       # doctest: +SKIP
        ...     use(search_space.genotype_codes(candidate))
        ...     scores = model.evaluate(validation, return_dict=True)
        """
        with self.distribute_strategy.scope():  # readable on every replica's device
            codes = {name: tf.Variable(tf.zeros(d.logits_shape), trainable=False,
                                       name=f"{name}_fixed_code")
                     for name, d in self.decisions.items()}

        def use(architecture):
            missing = sorted(set(codes) - set(architecture))
            if missing:
                raise _validation.invalid("architecture", f"codes for every decision "
                                          f"{sorted(codes)}", sorted(architecture),
                                          hint=f"Missing: {missing}.")
            for name, variable in codes.items():
                value = np.asarray(architecture[name], "float32")
                if value.shape != tuple(variable.shape):
                    raise _validation.invalid(f"architecture[{name!r}]", f"a code of shape "
                                              f"{tuple(variable.shape)}", f"shape {value.shape}")
                variable.assign(value)

        with contextlib.ExitStack() as stack:
            for name, decision in self.decisions.items():
                stack.enter_context(decision.use_code(codes[name]))
            self.test_function = self.predict_function = None
            try:
                yield use
            finally:
                self.test_function = self.predict_function = None
