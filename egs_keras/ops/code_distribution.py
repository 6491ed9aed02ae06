"""Exact distribution of Ensemble Gumbel-Softmax codes.

With probabilities p over K operations and M samples, the code a ∈ {0,1}^K marks the operations
drawn at least once in M independent categorical draws (the Gumbel-max trick makes each hard
sample an exact draw from p). Hence:

* inclusion: P(a_k = 1) = 1 − (1 − p_k)^M, increasing in p_k (the paper's Proposition 2),
  but not proportional to p_k as that proposition also states: for p = (0.5, 0.3, 0.2) and
  M = 2 it is (0.75, 0.51, 0.36), ratios to p of 1.5, 1.7 and 1.8 (rarer operations gain
  relatively more from more samples). The expected number of ones is Σ_k 1 − (1 − p_k)^M:
  8 · (1 − (7/8)^7) ≈ 4.86 for uniform p over K = 8 and M = 7, whose most probable code has
  5 ones;
* any code: P(a = 1_S) = Σ_{T ⊆ S} (−1)^{|S|−|T|} (Σ_{k∈T} p_k)^M (inclusion–exclusion over
  "all M draws land in T"), which is 0 for |S| = 0 and for |S| > M;
* reachable codes: exactly those with 1..M ones, Σ_{m=1}^{min(M,K)} C(K, m) of them. The paper's
  Proposition 3 prints C(K, M)·(2^M − 1), which over-counts: for K = 8, M = 7 it gives 1016,
  but only 254 of the 2^8 = 256 codes exist (all but the all-zero and the all-one code).

Codes are indexed as binary numbers with operation 0 as the most significant bit:
index(a) = Σ_k a_k · 2^(K−1−k), so `all_codes(3)[6]` is [1, 1, 0].

Example:

>>> p = tf.constant([0.5, 0.3, 0.2], tf.float64)
>>> float(code_probability(p, [1, 1, 0], num_samples=2))    # 2 · 0.5 · 0.3
0.3
"""

import math

import numpy as np
import tensorflow as tf

from egs_keras import _validation

MAX_TABLE_OPS = 20  # 2^20 codes per decision is the largest table `code_probabilities` builds.


def inclusion_probability(probs, num_samples):
    """P(a_k = 1) = 1 − (1 − p_k)^M, element-wise over `probs` (`[..., K]`)."""
    num_samples = _validation.check_positive_int("num_samples", num_samples)
    probs = tf.convert_to_tensor(probs)
    return 1.0 - tf.pow(1.0 - probs, num_samples)


def num_reachable_codes(num_ops, num_samples):
    """Σ_{m=1}^{min(M,K)} C(K, m): the number of codes with non-zero probability.

    >>> num_reachable_codes(8, 7)
    254
    """
    num_ops = _validation.check_positive_int("num_ops", num_ops)
    num_samples = _validation.check_positive_int("num_samples", num_samples)
    return sum(math.comb(num_ops, m) for m in range(1, min(num_samples, num_ops) + 1))


def all_codes(num_ops, dtype=tf.float32):
    """All 2^K binary codes as a `[2^K, K]` tensor, row i being the code with index i."""
    num_ops = _validation.check_positive_int("num_ops", num_ops)
    indices = np.arange(2**num_ops)[:, None]
    bits = (indices >> (num_ops - 1 - np.arange(num_ops))[None, :]) & 1
    return tf.constant(bits, dtype=dtype)


def code_index(code):
    """Index of binary code(s) `[..., K]` in the ordering of `all_codes`, as int64."""
    code = tf.convert_to_tensor(code)
    num_ops = code.shape[-1]
    weights = tf.constant([2 ** (num_ops - 1 - k) for k in range(num_ops)], tf.int64)
    return tf.reduce_sum(tf.cast(tf.round(tf.cast(code, tf.float64)), tf.int64) * weights, -1)


def _subset_moebius(table, num_ops):
    """Möbius transform over subsets: g(S) = Σ_{T⊆S} (−1)^{|S∖T|} f(T), last axis of size 2^K."""
    batch_shape = tf.shape(table)[:-1]
    flat = tf.reshape(table, [-1, 2**num_ops])
    for k in range(num_ops):
        split = tf.reshape(flat, [-1, 2**k, 2, 2 ** (num_ops - 1 - k)])
        without_k, with_k = split[:, :, :1], split[:, :, 1:]
        flat = tf.reshape(tf.concat([without_k, with_k - without_k], axis=2), [-1, 2**num_ops])
    return tf.reshape(flat, tf.concat([batch_shape, [2**num_ops]], axis=0))


def code_probabilities(probs, num_samples):
    """Exact P(a = code) for every one of the 2^K codes, by inclusion–exclusion.

    Args:
        probs: `[..., K]` probabilities p (rows sum to one), K ≤ 20. Computed in their dtype;
            pass float64 for the most accurate table.
        num_samples: M ≥ 1.

    Returns:
        `[..., 2^K]` tensor; entry i is the probability of `all_codes(K)[i]`.
    """
    num_samples = _validation.check_positive_int("num_samples", num_samples)
    probs = tf.convert_to_tensor(probs)
    num_ops = probs.shape[-1]
    if num_ops is None or num_ops > MAX_TABLE_OPS:
        raise ValueError(
            "Received an invalid value for argument `probs`, expected a known last dimension K "
            f"of at most {MAX_TABLE_OPS} (the table has 2^K entries), got shape {probs.shape}. "
            "Use `most_probable_code` or `inclusion_probability`, which scale to any K."
        )
    codes = all_codes(num_ops, probs.dtype)
    mass = tf.pow(tf.einsum("...k,ck->...c", probs, codes), num_samples)
    table = _subset_moebius(mass, num_ops)
    # |S| > M codes are exactly 0; clear the rounding residue of the alternating sums.
    reachable = tf.reduce_sum(codes, axis=-1) <= num_samples
    return tf.where(reachable, tf.maximum(table, 0.0), tf.zeros_like(table))


def code_probability(probs, code, num_samples):
    """Exact P(a = code) for binary code(s) `code` (`[..., K]`, broadcast against `probs`)."""
    probs = tf.convert_to_tensor(probs)
    table = code_probabilities(probs, num_samples)
    index = code_index(code)
    index = tf.broadcast_to(index, tf.shape(table)[:-1])
    return tf.gather(table, index, axis=-1, batch_dims=index.shape.rank)


def most_probable_code(probs, num_samples):
    """The exactly most probable code of each decision, for any K.

    For a fixed number of ones m, P(a = 1_S) is a polynomial in (p_k)_{k∈S} with positive
    coefficients, symmetric and increasing in each p_k, so the best code with m ones is the m
    most probable operations. The answer is therefore the best of the min(M, K) codes
    "top-1", "top-2", ..., whose probabilities are read from the exact table over the top
    min(M, K) operations. Ties go to fewer ones and then to lower operation index. Computed in
    the dtype of `probs`, so it also runs where float64 is unavailable (TPU).

    Args:
        probs: `[..., K]` probabilities p.
        num_samples: M ≥ 1.

    Returns:
        `[..., K]` binary code, dtype of `probs`.
    """
    num_samples = _validation.check_positive_int("num_samples", num_samples)
    probs = tf.convert_to_tensor(probs)
    num_ops = probs.shape[-1]
    most = min(num_samples, num_ops)
    if most > MAX_TABLE_OPS:
        raise ValueError(
            f"Received an invalid value for argument `num_samples`, expected at most "
            f"{MAX_TABLE_OPS} when there are {num_ops} operations, got {num_samples}."
        )
    order = tf.argsort(probs, axis=-1, direction="DESCENDING", stable=True)
    top = tf.gather(probs, order[..., :most], axis=-1, batch_dims=probs.shape.rank - 1)
    table = code_probabilities(top, num_samples)
    prefixes = [2**most - 2 ** (most - m) for m in range(1, most + 1)]
    best_count = tf.argmax(tf.gather(table, prefixes, axis=-1), axis=-1, output_type=tf.int32) + 1
    rank = tf.argsort(order, axis=-1, stable=True)
    return tf.cast(rank < best_count[..., tf.newaxis], probs.dtype)
