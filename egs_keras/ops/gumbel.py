"""Gumbel(0, 1) noise from stateless seeds, reproducible from (seed, step, replica).

The same `(seed, step, replica)` always gives the same noise; changing any of the three gives
independent noise. The Philox generator is pinned, but TensorFlow's XLA kernel and its regular
kernel map a seed to different (equally valid) streams, so code compiled with
`jit_compile=True` draws other noise than eager or `tf.function` code for the same seed; each is
reproducible on its own. This is what
lets each replica of a `tf.distribute` strategy draw its own architecture while a run stays
reproducible and resumable.

Example:

>>> noise = gumbel_noise([7, 8], seed=42, step=3, replica=0)
>>> noise.shape
TensorShape([7, 8])
"""

import numpy as np
import tensorflow as tf


def derive_seed(seed, step=0, replica=0):
    """Folds `step` and `replica` into `seed`; returns the `[2]` int32 seed of a stateless op.

    Args:
        seed: Python int or scalar integer tensor, the run's seed.
        step: Python int or scalar integer tensor, e.g. the training step or a sample counter.
        replica: Python int or scalar integer tensor, the replica id in a `tf.distribute` group.
    """
    pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    pair = tf.random.experimental.stateless_fold_in(pair, tf.cast(step, tf.int64), alg="philox")
    return tf.random.experimental.stateless_fold_in(
        pair, tf.cast(replica, tf.int64), alg="philox"
    )


def gumbel_noise(shape, seed, step=0, replica=0, dtype=tf.float32):
    """Draws Gumbel(0, 1) noise `-log(-log(u))`, with `u` clipped so no Inf or NaN can appear.

    The uniforms are clipped to `[tiny, 1 - eps]` of `dtype`, so the noise is finite: within about
    [-4.5, 16.6] in float32.

    Args:
        shape: shape of the noise (list or 1-D integer tensor).
        seed, step, replica: see `derive_seed`.
        dtype: a floating dtype (float16, bfloat16, float32 or float64).
    """
    dtype = tf.as_dtype(dtype)
    if not dtype.is_floating:
        raise ValueError(
            f"Received an invalid value for argument `dtype`, expected a floating dtype, "
            f"got {dtype.name!r}."
        )
    work_dtype = tf.float64 if dtype == tf.float64 else tf.float32  # half types: via float32
    info = np.finfo(work_dtype.as_numpy_dtype)
    uniform = tf.random.stateless_uniform(
        shape, seed=derive_seed(seed, step, replica), dtype=work_dtype, alg="philox"
    )
    uniform = tf.clip_by_value(uniform, float(info.tiny), 1.0 - float(info.eps))
    return tf.cast(-tf.math.log(-tf.math.log(uniform)), dtype)
