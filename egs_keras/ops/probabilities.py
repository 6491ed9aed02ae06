"""The efficiency credit of the paper: p = λ·softmax(α) + (1 − λ)·l.

`h = softmax(α)` is the effectiveness credit learned by gradient descent; `l` is a fixed
distribution computed from per-operation costs (FLOPs, parameters or measured latency), larger
for cheaper operations. λ (`effectiveness_weight`) trades one against the other; the paper uses
0.5. Gradients reach α only through `h`.

Example:

>>> prior = cost_prior([0.0, 0.0, 10.0, 20.0])      # two free ops, two costly ones
>>> log_p = log_probabilities(tf.zeros([4]), prior, effectiveness_weight=0.5)
"""

import tensorflow as tf

from egs_keras import _validation


def cost_prior(op_costs, dtype=tf.float32):
    """Maps per-operation costs to the prior `l_k ∝ exp(−c_k / max_j c_j)`.

    Costs are made scale-free by dividing by the largest one, so FLOPs, parameter counts or
    milliseconds give the same prior; the cheapest operation gets at most e ≈ 2.72 times the
    weight of the most expensive one (use `effectiveness_weight` to set the prior's strength).
    All-equal costs give the uniform distribution. A table of costs (one row per edge, as the
    operations of a reduction cell cost more on its stride-2 edges) gives one prior per row.

    Args:
        op_costs: K finite, non-negative costs, one per candidate operation, or a table
            `[..., K]` of them.
        dtype: floating dtype of the result.

    Returns:
        A tensor of the costs' shape, positive probabilities that sum to one over the last
        axis.
    """
    costs = tf.constant(_validation.check_costs("op_costs", op_costs), dtype=dtype)
    scale = tf.maximum(tf.reduce_max(costs, axis=-1, keepdims=True), tf.constant(1e-30, dtype))
    return tf.nn.softmax(-costs / scale, axis=-1)


def log_probabilities(logits, prior=None, effectiveness_weight=1.0):
    """Returns `log p` with `p = λ·softmax(logits) + (1 − λ)·prior` over the last axis.

    Args:
        logits: `[..., K]` architecture logits α.
        prior: optional `[K]` distribution (see `cost_prior`); `None` means p = softmax(α).
        effectiveness_weight: λ ∈ [0, 1], the weight of softmax(α). Ignored without a prior.
    """
    logits = tf.convert_to_tensor(logits)
    if prior is None:
        return tf.nn.log_softmax(logits, axis=-1)
    weight = _validation.check_unit_interval("effectiveness_weight", effectiveness_weight)
    if weight == 1.0:
        return tf.nn.log_softmax(logits, axis=-1)
    prior = tf.cast(prior, logits.dtype)
    mixed = weight * tf.nn.softmax(logits, axis=-1) + (1.0 - weight) * prior
    return tf.math.log(mixed)
