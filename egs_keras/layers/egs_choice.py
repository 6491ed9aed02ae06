"""`EGSChoice`: a block of any Keras model that is one (or several) of K candidate layers,
picked by an Ensemble Gumbel-Softmax decision."""

import contextlib
import weakref

import keras
import numpy as np
import tensorflow as tf

from egs_keras import _validation
from egs_keras.costs import measures
from egs_keras.layers import execution_modes
from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
from egs_keras.ops import gating

REDUCTIONS = ("sum", "mean")
DEFAULT_COST_BATCH = 16  # the batch latencies are timed at when the input's is unknown
# {traced graph: {(decision id, replica context id): its code in that graph}}: the one code per
# step that the choices sharing a decision use (see `EGSChoice._code`).
_STEP_CODES = weakref.WeakKeyDictionary()


@keras.saving.register_keras_serializable(package="egs_keras")
class EGSChoice(keras.layers.Layer):
    """Σ_k a_k · candidate_k(x): the candidates of a block, weighted by a binary EGS code a.

    Each training step draws one code from the choice's `EnsembleGumbelSoftmax` (1 to M of
    the K entries on) and returns the sum (or the mean) of the active candidates' outputs;
    the straight-through gradient reaches the decision's logits α. In inference the exactly
    most probable code is used, so the choice computes what `SearchModel.derive()` keeps.

    Candidates are any Keras layers or models whose outputs for the choice's input have one
    shape (a clear error names the one that differs); their names are the candidates' names
    in `SearchModel.architecture()`. Several choices can share one decision (pass
    `decision=`), e.g. one width for several blocks; the sharing survives `.keras` files.

    Execution modes, as `EGSMixedOp`: "dense" computes every candidate and masks them (XLA
    compiles it); "sparse" runs the active candidates and, in training, each inactive one
    with probability `probe_rate`, whose α-gradient then weighs 1 / probe_rate (an unbiased
    estimate of dense's gradient); "sparse_biased" runs only the active candidates (an
    inactive entry gets no gradient). See `execution_modes.sparse_weighted_sum`: candidates with
    non-trainable state such as batch-norm statistics always run; others must not create
    stateful ops.

    Args:
        candidates: a list of K ≥ 2 Keras layers with distinct names.
        num_samples: M ≥ 1, the samples merged into a code (at most K of its entries are
            on, also for M > K).
        temperature: initial τ of the Gumbel-Softmax (anneal it with `TemperatureScheduler`).
        op_costs: the resource prior: None, K non-negative numbers, or "latency",
            "parameters", "multiply_adds" or "litert", computed from the candidates at build
            time (latency: forward + backward, timed at the input's batch size, else 16;
            litert: one example's inference in LiteRT's interpreter on one thread) and kept
            in the layer's config, so a reloaded choice keeps the same prior.
        effectiveness_weight: λ, the weight of softmax(α) against the prior (paper: 0.5).
        execution: "dense", "sparse" or "sparse_biased".
        probe_rate: with "sparse", the chance that an inactive candidate runs in a training
            step.
        reduction: "sum" of the active candidates, or their "mean".
        decision: an `EnsembleGumbelSoftmax` owning logits of shape (K,) to share with other
            choices (then `num_samples`, `temperature`, `op_costs`, `effectiveness_weight`
            and `seed` are the decision's).
        seed: the noise seed of the choice's own decision (None: drawn once).

    Example:

    >>> inputs = keras.Input((16, 16, 8))
    >>> block = EGSChoice([keras.layers.Conv2D(8, k, padding="same", name=f"conv{k}")
    ...                    for k in (3, 5, 7)], num_samples=1, name="kernel")
    >>> model = egs_keras.models.SearchModel(inputs, block(inputs))   # doctest: +SKIP
    """

    def __init__(self, candidates, num_samples=1, temperature=1.0, op_costs=None,
                 effectiveness_weight=0.5, execution="dense", reduction="sum", decision=None,
                 seed=None, probe_rate=execution_modes.DEFAULT_PROBE_RATE, **kwargs):
        super().__init__(**kwargs)
        self.candidates = _check_candidates(candidates)
        num_ops = len(self.candidates)
        execution_modes.check_execution(execution)
        self.probe_rate = execution_modes.check_probe_rate(probe_rate)
        if reduction not in REDUCTIONS:
            raise _validation.invalid("reduction", f"one of {list(REDUCTIONS)}", reduction)
        self.execution, self.reduction = execution, reduction
        self.supports_jit = execution == "dense"
        self.cost_measure = None
        if isinstance(op_costs, str):
            self.cost_measure = measures.check_measure(op_costs)
            op_costs = None
        if decision is None:
            num_samples = _validation.check_positive_int("num_samples", num_samples)
            decision = EnsembleGumbelSoftmax(
                num_samples, temperature, op_costs=op_costs,
                effectiveness_weight=effectiveness_weight, logits_shape=(num_ops,), seed=seed,
                name=f"{self.name}_decision")
        elif not isinstance(decision, EnsembleGumbelSoftmax) or decision.logits_shape != (
                num_ops,):
            raise _validation.invalid(
                "decision", f"an EnsembleGumbelSoftmax with logits_shape=({num_ops},), one "
                "entry per candidate", decision)
        elif op_costs is not None or self.cost_measure is not None:
            raise ValueError(
                f"Received `op_costs` for choice {self.name!r} together with a shared "
                "`decision`; the costs of a shared decision are its own. Construct the "
                "EnsembleGumbelSoftmax with `op_costs=...` instead.")
        self.decision = decision
        # Decisions are counted by their users, so that sharers draw one code per step.
        sharers = getattr(decision, "_egs_choice_users", 0) + 1
        object.__setattr__(decision, "_egs_choice_users", sharers)

    @property
    def candidate_names(self):
        return [candidate.name for candidate in self.candidates]

    def get_config(self):
        config = super().get_config()
        decision = keras.saving.serialize_keras_object(self.decision)
        if getattr(self.decision, "_egs_choice_users", 1) > 1:
            # Keras restores objects with one `shared_object_id` as one object when it loads
            # a model; it marks only objects it serializes itself at the top of a config.
            decision["shared_object_id"] = id(self.decision)
        config.update(
            candidates=[keras.saving.serialize_keras_object(c) for c in self.candidates],
            execution=self.execution, reduction=self.reduction, decision=decision,
            probe_rate=self.probe_rate,
            op_costs=self.cost_measure if self.decision.op_costs is None else None)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["candidates"] = [keras.saving.deserialize_keras_object(c)
                                for c in config["candidates"]]
        config["decision"] = keras.saving.deserialize_keras_object(config["decision"])
        return cls(**config)

    def build(self, input_shape):
        if not isinstance(input_shape, (tuple, list)) or any(
                isinstance(d, (tuple, list)) for d in input_shape):
            raise ValueError(
                f"Received inputs of shape {input_shape} for choice {self.name!r}, expected "
                "one tensor: candidates take a single input. Concatenate the inputs first, or "
                "wrap them with their consumer in a sub-model.")
        shapes = {}
        for candidate in self.candidates:
            output = candidate(keras.KerasTensor(input_shape, dtype=self.compute_dtype))
            if not isinstance(output, keras.KerasTensor):
                raise ValueError(
                    f"Received candidate {candidate.name!r} of choice {self.name!r} that "
                    "returns several tensors, expected one tensor per candidate.")
            shapes[candidate.name] = tuple(output.shape)
        first, shape = next(iter(shapes.items()))
        for name, other in shapes.items():
            if other != shape:
                raise ValueError(
                    f"Received candidate {name!r} of choice {self.name!r} with output shape "
                    f"{other} for inputs of shape {tuple(input_shape)}, expected {shape} as "
                    f"candidate {first!r} returns: the choice adds its candidates' outputs. "
                    "Give every candidate the same output shape (e.g. the same filters and "
                    "strides, or a projection).")
        if self.execution != "dense" and any(d is None for d in shape[1:]):
            raise ValueError(
                f"Received choice {self.name!r} with execution={self.execution!r} and "
                "candidates whose "
                f"output shape {shape} is unknown beyond the batch, expected known dimensions "
                "(the sparse sum starts from zeros of that shape). Fix the input shape, or "
                "use execution='dense'.")
        self.input_shape_, self.output_shape_ = tuple(input_shape), shape
        if self.cost_measure is not None and self.decision.op_costs is None:
            self.decision.op_costs = self._measure_costs(tuple(input_shape))
        if not self.decision.built:
            self.decision.build()

    def _measure_costs(self, input_shape):
        """K costs of the candidates on inputs of `input_shape` (see `op_costs`)."""
        costs = []
        batch = input_shape[0] or DEFAULT_COST_BATCH
        for candidate in self.candidates:
            if self.cost_measure == "parameters":
                costs.append(float(measures.count_parameters(candidate)))
            elif self.cost_measure == "multiply_adds":
                costs.append(float(measures.count_function_multiply_adds(
                    lambda x, c=candidate: c(x, training=False), (1, *input_shape[1:]))))
            elif self.cost_measure == "litert":  # one example's inference, as deployed
                costs.append(measures.measure_litert_latency(
                    lambda x, c=candidate: c(x, training=False), (1, *input_shape[1:])))
            else:
                costs.append(measures.measure_latency(
                    lambda x, c=candidate: c(x, training=True), candidate.trainable_weights,
                    (batch, *input_shape[1:])))
        return [round(c, 6) for c in costs]

    def call(self, inputs, training=None):
        with gating.on_host() if self.execution != "dense" else contextlib.nullcontext():
            code, probes = self._code(training)
            code = tf.cast(code, self.compute_dtype)
            if probes is not None:
                probes = execution_modes.probe_weights(probes, code, self.probe_rate)
        if self.execution == "dense":
            entries = tf.unstack(code, num=len(self.candidates))
            output = tf.add_n([entry * candidate(inputs, training=training)
                               for entry, candidate in zip(entries, self.candidates,
                                                           strict=True)])
        else:
            zeros = tf.zeros(tf.concat([tf.shape(inputs)[:1], self.output_shape_[1:]], 0),
                             self.compute_dtype)
            output = execution_modes.sparse_weighted_sum(
                inputs, code, dict(enumerate(self.candidates)), zeros, training,
                probe_weights=probes)
        if self.reduction == "mean":
            output = output / tf.maximum(tf.stop_gradient(tf.reduce_sum(code)), 1.0)
        return output

    def _code(self, training):
        """(the decision's code, the probes of sparse execution or None): in a compiled step,
        choices that share a decision use one code (and one set of probes) drawn once per
        step (as the cells of one type in `EGSSearchNetwork`); per replica under
        `tf.distribute`. Called eagerly, each call draws anew."""
        decision = self.decision
        if (not training or getattr(decision, "_egs_choice_users", 1) < 2
                or tf.executing_eagerly()):
            return self._draw(training)
        codes = _STEP_CODES.setdefault(tf.compat.v1.get_default_graph(), {})
        key = (id(decision), id(tf.distribute.get_replica_context()))
        if key not in codes:
            codes[key] = self._draw(True)
        return codes[key]

    def _draw(self, training):
        code = self.decision(training=training)
        if not training or self.execution != "sparse":
            return code, None
        return code, self.decision.probe_mask(self.probe_rate, self.decision.sample_count.value)

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return (input_shape[0], *self.output_shape_[1:])

    def chosen(self):
        """The indices of the candidates in the most probable code (what `derive` keeps)."""
        code = np.asarray(self.decision.most_probable_code())
        return [int(k) for k in np.flatnonzero(code > 0)]


def _check_candidates(candidates):
    if isinstance(candidates, keras.layers.Layer) or not isinstance(candidates, (list, tuple)):
        raise _validation.invalid("candidates", "a list of Keras layers", candidates)
    candidates = list(candidates)
    wrong = [c for c in candidates if not isinstance(c, keras.layers.Layer)]
    if wrong:
        raise _validation.invalid("candidates", "a list of Keras layers (or models)", wrong[0])
    if len(candidates) < 2:
        raise _validation.invalid("candidates", "at least 2 layers to choose from",
                                  [c.name for c in candidates])
    names = [c.name for c in candidates]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"Received candidates with repeated names {repeated}, expected distinct names: "
            "they name the choices in `architecture()`. Pass `name=` to each candidate.")
    return candidates

