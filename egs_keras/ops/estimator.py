"""The Ensemble Gumbel-Softmax estimator (Chang et al., 2019, arXiv 1905.01786, §3).

For logits α over K operations and probabilities p (see `probabilities.log_probabilities`), draw
M (`num_samples`) Gumbel-Softmax samples

    y_m = softmax((log p + g_m) / τ),   g_m ~ Gumbel(0, 1),   m = 1..M,

turn each into a hard one-hot `z_m = onehot(argmax_k y_m)` and combine them into the binary code
`a = max_m z_m`: an operation is on if at least one sample picked it, so between 1 and M of the
K entries are on. The forward pass returns the hard code; the backward pass uses the gradient of
the soft relaxation `max_m y_m` (straight-through). With `hard=False` the soft relaxation itself
is returned.

Example:

>>> code = ensemble_gumbel_softmax(tf.zeros([14, 8]), num_samples=7, temperature=1.0, seed=0)
>>> code.shape          # one binary code per edge
TensorShape([14, 8])
"""

import numbers

import tensorflow as tf

from egs_keras import _validation
from egs_keras.ops import gumbel
from egs_keras.ops import probabilities


@tf.custom_gradient
def _hard_code_with_straight_through(scaled):
    """Hard code `max_m onehot(argmax scaled_m)`; gradient of the soft code `max_m softmax`.

    `scaled` is `[M, ..., K]` = (log p + g) / τ. For each entry k the soft code is
    `y_{m*,k}` with m* the sample where y_{m,k} is largest, so the gradient flows through that
    one sample's softmax: d/ds_{m,j} = y_{m,j} (w_{m,j} − Σ_k w_{m,k} y_{m,k}) with
    w_{m,k} = upstream_k · [m = m*(k)].
    """
    num_ops = tf.shape(scaled)[-1]
    num_samples = tf.shape(scaled)[0]
    soft = tf.nn.softmax(scaled, axis=-1)
    hard = tf.one_hot(tf.argmax(scaled, axis=-1), num_ops, dtype=scaled.dtype)
    code = tf.reduce_max(hard, axis=0)

    def grad(upstream):
        winner = tf.one_hot(tf.argmax(soft, axis=0), num_samples, axis=0, dtype=soft.dtype)
        weights = winner * upstream[tf.newaxis]
        return soft * (weights - tf.reduce_sum(weights * soft, axis=-1, keepdims=True))

    return code, grad


def scaled_samples(log_probs, noise, temperature):
    """Returns `(log p + g_m) / τ` for every sample m, shape `[M, ..., K]`."""
    temperature = tf.cast(temperature, log_probs.dtype)
    return (log_probs[tf.newaxis] + noise) / temperature


def ensemble_gumbel_softmax(
    logits,
    num_samples,
    temperature,
    *,
    seed=0,
    step=0,
    replica=0,
    noise=None,
    prior=None,
    effectiveness_weight=1.0,
    hard=True,
    straight_through=True,
):
    """Draws Ensemble Gumbel-Softmax codes, one per row of `logits`.

    Works eagerly, in `tf.function` and with `jit_compile=True`; all shapes may be dynamic but
    the last (K). Computes in the dtype of `logits` (cast to float32 first under mixed precision).

    Args:
        logits: `[..., K]` floating tensor, the architecture logits α of each decision.
        num_samples: M ≥ 1, the number of Gumbel-Softmax samples combined into each code; a
            code has between 1 and M ones.
        temperature: τ > 0, a Python number or a scalar tensor/variable (use a variable for a
            schedule inside a compiled step).
        seed, step, replica: make the noise reproducible and independent per (seed, step,
            replica); see `gumbel.gumbel_noise`. Ignored if `noise` is given.
        noise: optional `[M, ..., K]` Gumbel noise to use instead of drawing it.
        prior: optional `[K]` cost prior l (see `probabilities.cost_prior`).
        effectiveness_weight: λ ∈ [0, 1] in p = λ·softmax(α) + (1 − λ)·l.
        hard: True returns the binary code; False the soft relaxation `max_m y_m` in (0, 1].
        straight_through: with `hard=True`, True gives the hard code the gradient of the soft
            relaxation; False gives it no gradient.

    Returns:
        `[..., K]` tensor of the dtype of `logits`.

    Raises:
        ValueError: for `num_samples` < 1, a Python `temperature` ≤ 0, `effectiveness_weight`
            outside [0, 1], or logits of rank 0 or with an unknown last dimension.
    """
    num_samples = _validation.check_positive_int("num_samples", num_samples)
    if isinstance(temperature, numbers.Number):
        _validation.check_positive_float("temperature", temperature)
    logits = tf.convert_to_tensor(logits)
    if not logits.dtype.is_floating:
        logits = tf.cast(logits, tf.float32)
    if logits.shape.rank == 0 or logits.shape[-1] is None:
        raise ValueError(
            "Received an invalid value for argument `logits`, expected a tensor of shape "
            f"[..., K] with a known number of operations K, got shape {logits.shape}."
        )
    log_probs = probabilities.log_probabilities(logits, prior, effectiveness_weight)
    if noise is None:
        noise_shape = tf.concat([[num_samples], tf.shape(logits)], axis=0)
        noise = gumbel.gumbel_noise(noise_shape, seed, step, replica, dtype=logits.dtype)
    else:
        noise = tf.cast(noise, logits.dtype)
    scaled = scaled_samples(log_probs, noise, temperature)
    if not hard:
        return tf.reduce_max(tf.nn.softmax(scaled, axis=-1), axis=0)
    if straight_through:
        return _hard_code_with_straight_through(scaled)
    return tf.stop_gradient(_hard_code_with_straight_through(scaled))
