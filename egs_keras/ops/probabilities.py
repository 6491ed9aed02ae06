"""The efficiency credit of the paper: p = λ·softmax(α) + (1 − λ)·l.

`h = softmax(α)` is the effectiveness credit learned by gradient descent; `l` is a fixed
distribution computed from per-operation costs (FLOPs, parameters or measured latency), larger
for cheaper operations. λ (`effectiveness_weight`) trades one against the other; the paper uses
0.5. Gradients reach α only through `h`.

Operations that are not computations, such as `none` ("no connection"), take no part in the
cost comparison (`neutral_ops`): each keeps the uniform share 1/K of l, so the prior neither
favours nor penalises leaving an edge out; the costed operations share the rest by cost.

Example:

>>> prior = cost_prior([0.0, 1.0, 10.0, 20.0], neutral_ops=[0])   # `none` and three costed ops
>>> log_p = log_probabilities(tf.zeros([4]), prior, effectiveness_weight=0.5)
"""

import tensorflow as tf

from egs_keras import _validation


def cost_prior(op_costs, dtype=tf.float32, *, strength=1.0, neutral_ops=None):
    """Maps per-operation costs to the prior `l_k ∝ exp(−β · c_k / max_j c_j)`.

    Costs are made scale-free by dividing by the largest one, so FLOPs, parameter counts or
    milliseconds give the same prior; the cheapest operation gets at most e^β times the
    weight of the most expensive one. β (`strength`) is the prior's strength: 0 makes l
    uniform (the costs inform nothing), 1 is the default, larger values let cost separate
    the operations more. All-equal costs give the uniform distribution. A table of costs
    (one row per edge, as the operations of a reduction cell cost more on its stride-2
    edges) gives one prior per row.

    Args:
        op_costs: K finite, non-negative costs, one per candidate operation, or a table
            `[..., K]` of them.
        dtype: floating dtype of the result.
        strength: β ≥ 0 (see above).
        neutral_ops: indices of operations outside the cost comparison, e.g. `none` (no
            connection is not a cheap operation): each gets l_k = 1/K whatever its cost,
            and the other operations share the remaining mass by their costs. Their costs
            are ignored (also for the scale).

    Returns:
        A tensor of the costs' shape, positive probabilities that sum to one over the last
        axis.

    >>> cost_prior([0.0, 1.0, 1.0, 1.0], neutral_ops=[0]).numpy()   # `none` keeps 1/K
    array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    costs = tf.constant(_validation.check_costs("op_costs", op_costs), dtype=dtype)
    strength = _validation.check_non_negative_float("strength", strength)
    num_ops = costs.shape[-1]
    neutral = check_neutral_ops(neutral_ops, num_ops)
    costed = tf.constant([k not in neutral for k in range(num_ops)])
    if not neutral:
        scale = tf.reduce_max(costs, axis=-1, keepdims=True)
    else:
        scale = tf.reduce_max(tf.where(costed, costs, tf.zeros_like(costs)), -1, keepdims=True)
    scale = tf.maximum(scale, tf.constant(1e-30, dtype))
    logits = tf.where(costed, -strength * costs / scale, tf.constant(-float("inf"), dtype))
    if len(neutral) == num_ops:
        return tf.fill(tf.shape(costs), tf.constant(1.0 / num_ops, dtype))
    shares = tf.nn.softmax(logits, axis=-1) * (1.0 - len(neutral) / num_ops)
    return tf.where(costed, shares, tf.constant(1.0 / num_ops, dtype))


def check_neutral_ops(neutral_ops, num_ops):
    """`neutral_ops` (None or operation indices in [0, K)) as a sorted tuple, or a ValueError."""
    if neutral_ops is None:
        return ()
    try:
        indices = sorted({int(k) for k in neutral_ops})
    except (TypeError, ValueError):
        raise _validation.invalid("neutral_ops", f"indices of operations in [0, {num_ops})",
                                  neutral_ops) from None
    if any(not 0 <= k < num_ops for k in indices) or any(
            isinstance(k, bool) for k in neutral_ops):
        raise _validation.invalid("neutral_ops", f"indices of operations in [0, {num_ops})",
                                  list(neutral_ops))
    return tuple(indices)


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
