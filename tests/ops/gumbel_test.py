import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from egs_keras.ops import gumbel


def test_noise_is_reproducible_from_seed_step_and_replica():
    first = gumbel.gumbel_noise([4, 8], seed=3, step=5, replica=1)
    again = gumbel.gumbel_noise([4, 8], seed=3, step=5, replica=1)
    np.testing.assert_array_equal(first, again)
    for other in [dict(seed=4, step=5, replica=1), dict(seed=3, step=6, replica=1),
                  dict(seed=3, step=5, replica=0)]:
        assert not np.allclose(first, gumbel.gumbel_noise([4, 8], **other))


def test_noise_follows_the_gumbel_distribution():
    noise = gumbel.gumbel_noise([200_000], seed=0).numpy()
    result = scipy.stats.kstest(noise, "gumbel_r")
    assert result.pvalue > 1e-3, result
    # Independent streams: the correlation of two steps is ~0 (|r| < 5 standard errors).
    other = gumbel.gumbel_noise([200_000], seed=0, step=1).numpy()
    assert abs(np.corrcoef(noise, other)[0, 1]) < 5 / np.sqrt(noise.size)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float32, tf.float64])
def test_noise_is_always_finite(dtype):
    noise = gumbel.gumbel_noise([1_000_000], seed=1, dtype=dtype)
    assert noise.dtype == dtype
    assert np.all(np.isfinite(tf.cast(noise, tf.float32).numpy()))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compiled_noise_is_reproducible_and_gumbel(jit_compile):
    compiled = tf.function(
        lambda step: gumbel.gumbel_noise([50_000], seed=7, step=step), jit_compile=jit_compile
    )
    first = compiled(tf.constant(9)).numpy()
    np.testing.assert_array_equal(first, compiled(tf.constant(9)))
    assert not np.allclose(first, compiled(tf.constant(10)))
    assert scipy.stats.kstest(first, "gumbel_r").pvalue > 1e-3


def test_integer_dtype_is_rejected():
    with pytest.raises(ValueError, match="`dtype`.*floating.*int32"):
        gumbel.gumbel_noise([2], seed=0, dtype=tf.int32)
