"""`EnsembleGumbelSoftmax`: the EGS estimator as a Keras layer."""

import contextlib
import random

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras.ops import code_distribution
from egs_keras.ops import estimator
from egs_keras.ops import gumbel
from egs_keras.ops import probabilities

REPLICA_SAMPLING = ("independent", "shared")
PROBE_STREAM = 0x9E37  # folded into a step's seed for the probes, apart from its Gumbel noise


def _replica_id():
    """The replica id inside a `tf.distribute` replica function, else 0."""
    context = tf.distribute.get_replica_context()
    return 0 if context is None else context.replica_id_in_sync_group


def _missing_logits_error():
    return ValueError(
        "Received no `inputs`, expected logits of shape [..., K]. Pass the logits, "
        "or construct the layer with `logits_shape=...` to let it own them."
    )


@keras.saving.register_keras_serializable(package="egs_keras")
class EnsembleGumbelSoftmax(keras.layers.Layer):
    """Maps architecture logits `[..., K]` to a binary multi-hot code `[..., K]`.

    Each code marks the operations picked by at least one of `num_samples` (the paper's M)
    Gumbel-Softmax samples of p = λ·softmax(α) + (1 − λ)·l, so 1 to M of its K entries are on.
    In training the forward pass is the hard code and the backward pass the gradient of the
    soft relaxation max_m softmax((log p + g_m)/τ) (straight-through). With `training=False` the
    layer is deterministic and returns the most probable code, found exactly (see
    `egs_keras.ops.most_probable_code`).

    The layer either maps given logits, or owns its logits (`logits_shape=...`) when it is an
    architecture decision itself. The temperature τ lives in a non-trainable variable, so a
    `TemperatureScheduler` callback changes it inside compiled (even XLA) train steps. Noise is
    drawn from stateless seeds (`seed`, a per-layer sample counter, the replica id), so a run is
    reproducible, the counter is saved with the weights, and under `tf.distribute` each replica
    draws its own code (more architecture samples per step) unless
    `replica_sampling="shared"`.
    Logits, noise and codes are float32 whatever the dtype policy (safe under mixed precision).
    `num_samples` may exceed K: M counts draws, which may repeat (the paper's Table 5 runs
    M = 8 and 9 over K = 8 operations); a code still has at most K ones.

    Args:
        num_samples: M ≥ 1, the number of Gumbel-Softmax samples merged into a code.
        temperature: initial τ > 0. Small τ: soft relaxation close to the hard code, noisier
            gradients; large τ: smoother, more biased gradients. Anneal it with
            `egs_keras.training.TemperatureScheduler`.
        op_costs: optional K non-negative costs (FLOPs, parameters, latency) giving the
            efficiency prior l (cheaper → likelier), or a table of them with one row per
            decision, e.g. `[num_edges, K]` for logits of that shape (an operation costs more
            on a stride-2 edge); see `egs_keras.ops.cost_prior`.
        effectiveness_weight: λ ∈ [0, 1], the weight of softmax(α) against the cost prior
            (paper: 0.5). Only used with `op_costs`.
        prior_strength: β ≥ 0 in l ∝ exp(−β · cost / max cost): how strongly cost separates
            the operations in the prior (0: uniform l; 1: the default). See
            `egs_keras.ops.cost_prior`.
        neutral_ops: indices of operations outside the cost comparison, e.g. `none` (no
            connection is not a cheap operation): each gets the uniform share 1/K of l.
        straight_through: if True the hard code carries the soft relaxation's gradient; if
            False it carries none.
        hard: if False, return the soft relaxation max_m y_m instead of the binary code.
        logits_shape: if given (e.g. `(14, 8)` for 14 edges of 8 operations), the layer owns a
            trainable `logits` weight of that shape and ignores the values of its input.
        logits_initializer: initializer of the owned logits (default zeros: uniform p).
        seed: integer seed of the noise. `None` draws one once at construction; `get_config`
            records it, so a reloaded layer continues the same random stream.
        replica_sampling: "independent" (default): replica r of a `tf.distribute` strategy
            draws the code of (seed, step, r); "shared": every replica draws replica 0's code,
            so all replicas train the same architecture in a step.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: without `logits_shape`, the logits `[..., K]`. With `logits_shape`, either
            nothing (`layer()` returns one code of shape `logits_shape`) or any tensor whose
            first dimension is the batch size (one independent code per example,
            `[batch, *logits_shape]`).
        training: True draws codes; False or None returns the most probable code.

    Example:

    >>> selector = EnsembleGumbelSoftmax(num_samples=4, logits_shape=(8,), seed=0)
    >>> inputs = keras.Input((8,))
    >>> code = selector(inputs)                      # [batch, 8] multi-hot, 1..4 ones
    >>> selected = keras.layers.Multiply()([inputs, code])
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(selected))

    Reference:
        Chang et al., "Differentiable Architecture Search with Ensemble Gumbel-Softmax",
        arXiv:1905.01786 (2019).
    """

    def __init__(
        self,
        num_samples=1,
        temperature=1.0,
        op_costs=None,
        effectiveness_weight=0.5,
        straight_through=True,
        hard=True,
        logits_shape=None,
        logits_initializer="zeros",
        seed=None,
        replica_sampling="independent",
        prior_strength=1.0,
        neutral_ops=None,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.num_samples = _validation.check_positive_int("num_samples", num_samples)
        self.temperature = _validation.check_positive_float("temperature", temperature)
        self.op_costs = (
            None if op_costs is None else _validation.check_costs("op_costs", op_costs)
        )
        self.effectiveness_weight = _validation.check_unit_interval(
            "effectiveness_weight", effectiveness_weight
        )
        self.prior_strength = _validation.check_non_negative_float("prior_strength",
                                                                   prior_strength)
        self.neutral_ops = None if neutral_ops is None else list(
            probabilities.check_neutral_ops(neutral_ops, 2**31))
        self.straight_through = bool(straight_through)
        self.hard = bool(hard)
        self.logits_shape = self._check_logits_shape(logits_shape)
        self.logits_initializer = keras.initializers.get(logits_initializer)
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        if isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**63:
            raise _validation.invalid("seed", "an integer from -2**63 to 2**63 - 1 (the "
                                      "stateless random ops' int64), or None", seed)
        self.seed = seed
        if replica_sampling not in REPLICA_SAMPLING:
            raise _validation.invalid("replica_sampling", f"one of {list(REPLICA_SAMPLING)}",
                                      replica_sampling)
        self.replica_sampling = replica_sampling
        # State that does not depend on the input shape is created here, so that schedules can
        # set the temperature before the first call.
        self.temperature_variable = self.add_weight(
            name="temperature",
            shape=(),
            dtype="float32",
            initializer=keras.initializers.Constant(self.temperature),
            trainable=False,
        )
        self.sample_count = self.add_weight(
            name="sample_count",
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )
        self.logits = None
        # The code inference uses instead of the most probable one (`use_code`); a plain
        # attribute, so that checkpoints and `.keras` files never see it.
        object.__setattr__(self, "_inference_code", None)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_samples=self.num_samples,
            temperature=self.temperature,
            op_costs=self.op_costs,
            effectiveness_weight=self.effectiveness_weight,
            straight_through=self.straight_through,
            hard=self.hard,
            logits_shape=self.logits_shape,
            logits_initializer=keras.initializers.serialize(self.logits_initializer),
            seed=self.seed,
            replica_sampling=self.replica_sampling,
            prior_strength=self.prior_strength,
            neutral_ops=self.neutral_ops,
        )
        return config

    def build(self, input_shape=None):
        if self.logits_shape is not None:
            self.logits = self.add_weight(
                name="logits",
                shape=self.logits_shape,
                dtype="float32",
                initializer=self.logits_initializer,
                trainable=True,
            )
            num_ops = self.logits_shape[-1]
        else:
            if input_shape is None:
                raise _missing_logits_error()
            if len(input_shape) == 0 or input_shape[-1] is None:
                raise ValueError(
                    "Received an invalid value for argument `inputs`, expected logits of shape "
                    f"[..., K] with a known number of operations K, got shape {input_shape}. "
                    "Pass `logits_shape=...` to let the layer own its logits."
                )
            num_ops = input_shape[-1]
        if self.op_costs is not None:
            rows = None if self.logits_shape is None else self.logits_shape[:-1]
            _validation.check_costs("op_costs", self.op_costs, num_ops=num_ops, rows_shape=rows)
        probabilities.check_neutral_ops(self.neutral_ops, num_ops)
        self.num_ops = num_ops

    def call(self, inputs=None, training=None):
        logits = self._logits_for(inputs)
        if not training:
            return self._inference(logits)
        # The step is the value the increment read, so no replica can see it already advanced.
        return self._draw(logits, self.sample_count.assign_add(1) - 1)

    def inference_code(self, inputs=None):
        """The code inference uses: the exactly most probable one, or the code set by
        `use_code` while its block runs."""
        return self._inference(self._logits_for(inputs))

    @contextlib.contextmanager
    def use_code(self, code):
        """Within the block, inference (`training=False`, `inference_code()`) uses `code`
        (a tensor or variable of the logits' shape, read when a step runs) instead of the
        most probable code: how a search scores one architecture with its shared weights.
        Steps traced inside the block keep reading `code`; trace again after it.

        >>> selector = EnsembleGumbelSoftmax(num_samples=2, logits_shape=(3,), seed=0)
        >>> with selector.use_code(tf.constant([0., 1., 1.])):
        ...     selector(training=False).numpy().tolist()
        [0.0, 1.0, 1.0]
        """
        previous = self._inference_code
        object.__setattr__(self, "_inference_code", code)
        try:
            yield self
        finally:
            object.__setattr__(self, "_inference_code", previous)

    def probe_mask(self, rate, step, shape=None):
        """Bernoulli(`rate`) booleans of the logits' shape (or `shape`), reproducible from
        (seed, `step`, replica) and independent of the Gumbel noise of the same step: which
        inactive operations sparse execution computes anyway (see `EGSMixedOp`)."""
        shape = self.logits_shape if shape is None else shape
        replica = _replica_id() if self.replica_sampling == "independent" else 0
        seed = gumbel.derive_seed(self.seed, step, replica)
        seed = tf.random.experimental.stateless_fold_in(seed, PROBE_STREAM, alg="philox")
        uniform = tf.random.stateless_uniform(shape, seed=seed, alg="philox")
        return uniform < rate

    def _inference(self, logits):
        if self._inference_code is not None:
            code = tf.cast(self._inference_code, tf.float32)
            return tf.broadcast_to(code, tf.shape(logits))
        return code_distribution.most_probable_code(self._probabilities_of(logits),
                                                    self.num_samples)

    def draw(self, step, inputs=None):
        """The training code of sample number `step`, without advancing the sample counter.

        The same step gives the same code, so a caller can reuse one architecture sample in
        several places (`EGSRNNCell` draws one code per sequence this way, at every time step
        of it) and advance `sample_count` itself.

        >>> selector = EnsembleGumbelSoftmax(num_samples=2, logits_shape=(5,), seed=1)
        >>> bool(tf.reduce_all(selector.draw(3) == selector.draw(3)))
        True
        """
        return self._draw(self._logits_for(inputs), step)

    def _draw(self, logits, step):
        return estimator.ensemble_gumbel_softmax(
            logits,
            self.num_samples,
            self.temperature_variable.value,
            seed=self.seed,
            step=step,
            replica=_replica_id() if self.replica_sampling == "independent" else 0,
            prior=self._prior(),
            effectiveness_weight=self.effectiveness_weight,
            hard=self.hard,
            straight_through=self.straight_through,
        )

    def compute_output_shape(self, input_shape=None):
        if self.logits_shape is None:
            return tuple(input_shape)
        if input_shape is None:
            return self.logits_shape
        return (input_shape[0],) + self.logits_shape

    def compute_output_spec(self, inputs=None, training=None):
        # Codes are float32 under every dtype policy (the base class would report compute_dtype).
        shape = None if inputs is None else tuple(inputs.shape)
        return keras.KerasTensor(self.compute_output_shape(shape), dtype="float32")

    def set_temperature(self, value):
        """Assigns τ (a number > 0); takes effect in already compiled steps too."""
        self.temperature_variable.assign(_validation.check_positive_float("temperature", value))

    def probabilities(self, logits=None):
        """p = λ·softmax(α) + (1 − λ)·l for the owned logits (or the given ones), float32."""
        return self._probabilities_of(self._logits_for(logits))

    def most_probable_code(self, logits=None):
        """The exactly most probable code for the owned logits (or the given ones)."""
        return code_distribution.most_probable_code(self.probabilities(logits), self.num_samples)

    def preferences(self, logits=None):
        """h = softmax(α), the effectiveness credit alone (no prior), float32: what the
        search learned, which derivations rank edges by."""
        return tf.nn.softmax(self._logits_for(logits), axis=-1)

    def _logits_for(self, inputs):
        if self.logits_shape is None:
            if inputs is None:
                raise _missing_logits_error()
            return tf.cast(inputs, tf.float32)
        if not self.built:
            self.build()
        logits = tf.convert_to_tensor(self.logits)
        if inputs is None:
            return logits
        batch = tf.shape(inputs)[:1]
        return tf.broadcast_to(logits, tf.concat([batch, self.logits_shape], axis=0))

    def _probabilities_of(self, logits):
        return tf.exp(
            probabilities.log_probabilities(logits, self._prior(), self.effectiveness_weight)
        )

    def _prior(self):
        if self.op_costs is None:
            return None
        return probabilities.cost_prior(self.op_costs, strength=self.prior_strength,
                                        neutral_ops=self.neutral_ops)

    @staticmethod
    def _check_logits_shape(logits_shape):
        if logits_shape is None:
            return None
        if isinstance(logits_shape, int):
            logits_shape = (logits_shape,)
        try:
            shape = tuple(logits_shape)
        except TypeError:
            shape = None
        if not shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape
        ):
            raise _validation.invalid(
                "logits_shape", "a tuple of positive integers ending in K, e.g. (14, 8)",
                logits_shape,
            )
        return shape
