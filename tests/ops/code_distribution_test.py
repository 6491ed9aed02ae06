import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from egs_keras.ops import code_distribution as cd


def _random_probs(num_ops, seed, rows=1):
    logits = np.random.default_rng(seed).normal(scale=1.5, size=(rows, num_ops))
    return tf.nn.softmax(tf.constant(logits, tf.float64)).numpy()


def _exact_by_enumerating_draws(probs, num_samples):
    """P(code) by summing over all K^M ordered sequences of draws: independent of the formula."""
    num_ops = len(probs)
    table = np.zeros(2**num_ops)
    for draws in itertools.product(range(num_ops), repeat=num_samples):
        index = sum(2 ** (num_ops - 1 - k) for k in set(draws))
        table[index] += np.prod([probs[k] for k in draws])
    return table


@pytest.mark.parametrize("num_ops, num_samples", [(3, 1), (4, 3), (5, 4), (4, 6)])
def test_code_probabilities_match_enumeration_of_draws(num_ops, num_samples):
    probs = _random_probs(num_ops, seed=num_ops * 10 + num_samples)[0]
    np.testing.assert_allclose(
        cd.code_probabilities(probs, num_samples),
        _exact_by_enumerating_draws(probs, num_samples),
        atol=1e-12,
    )


@pytest.mark.parametrize("num_ops, num_samples", [(8, 7), (5, 4), (8, 1), (6, 2), (4, 9)])
def test_reachable_codes_are_those_with_one_to_m_ones(num_ops, num_samples):
    table = cd.code_probabilities(_random_probs(num_ops, seed=1, rows=3), num_samples).numpy()
    np.testing.assert_allclose(table.sum(-1), 1.0, rtol=1e-10)
    ones = cd.all_codes(num_ops).numpy().sum(-1)
    reachable = (ones >= 1) & (ones <= num_samples)
    assert np.all(table[:, reachable] > 0) and np.all(table[:, ~reachable] == 0)
    assert reachable.sum() == cd.num_reachable_codes(num_ops, num_samples)


def test_reachable_count_corrects_the_paper():
    assert cd.num_reachable_codes(8, 7) == 254  # 2^8 minus the all-zero and all-one codes
    assert cd.num_reachable_codes(5, 4) == 30
    assert cd.num_reachable_codes(8, 1) == 8
    paper = math.comb(8, 7) * (2**7 - 1)
    assert paper == 1016 > 2**8  # Proposition 3 counts more codes than exist


def test_inclusion_probability_agrees_with_the_code_table():
    probs = _random_probs(6, seed=2, rows=4)
    table = cd.code_probabilities(probs, 4).numpy()
    marginals = table @ cd.all_codes(6, tf.float64).numpy()
    np.testing.assert_allclose(cd.inclusion_probability(probs, 4), marginals, rtol=1e-10)


def test_inclusion_probability_is_monotone_in_p():
    """Proposition 2: more probability for an op means it is more often in the code."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        probs = rng.dirichlet(np.ones(8))
        order = np.argsort(probs)
        inclusion = cd.inclusion_probability(probs, 7).numpy()
        assert np.all(np.diff(inclusion[order]) >= 0)
        raised = probs.copy()
        raised[0] += 0.1
        raised /= raised.sum()
        assert cd.inclusion_probability(raised, 7).numpy()[0] > inclusion[0]


def test_inclusion_is_monotone_but_not_proportional_to_p():
    """Proposition 2 also says P(a_k = 1) ∝ p_k; it is not: ratios 1.5, 1.7, 1.8 here."""
    inclusion = cd.inclusion_probability(tf.constant([0.5, 0.3, 0.2], tf.float64), 2).numpy()
    np.testing.assert_allclose(inclusion, [0.75, 0.51, 0.36], rtol=1e-12)
    np.testing.assert_allclose(inclusion / [0.5, 0.3, 0.2], [1.5, 1.7, 1.8], rtol=1e-12)


def test_uniform_codes_hold_exactly_the_expected_number_of_ones():
    """Uniform p, K = 8, M = 7: E[ones] = 8 (1 − (7/8)^7) from the full code table, and the
    most probable code has 5 ones (m!·S(7, m) surjections peak at m = 5: 16,800 of 8^7)."""
    uniform = tf.fill([1, 8], tf.constant(1 / 8, tf.float64))
    table = cd.code_probabilities(uniform, 7).numpy()[0]
    ones = cd.all_codes(8).numpy().sum(-1)
    assert table @ ones == pytest.approx(8 * (1 - (7 / 8) ** 7), rel=1e-12)
    assert float(tf.reduce_sum(cd.inclusion_probability(uniform, 7))) == pytest.approx(
        8 * (1 - (7 / 8) ** 7), rel=1e-12)
    assert table[ones == 5][0] == pytest.approx(16_800 / 8**7, rel=1e-12)
    assert cd.most_probable_code(uniform, 7).numpy().sum() == 5


def test_code_probability_known_answers():
    probs = tf.constant([0.5, 0.3, 0.2], tf.float64)
    assert float(cd.code_probability(probs, [1, 1, 0], 2)) == pytest.approx(2 * 0.5 * 0.3)
    assert float(cd.code_probability(probs, [1, 0, 0], 3)) == pytest.approx(0.125)
    assert float(cd.code_probability(probs, [1, 1, 1], 2)) == 0.0
    assert float(cd.code_probability(probs, [0, 0, 0], 2)) == 0.0
    batch = cd.code_probability(probs[None].numpy().repeat(2, 0), [[1, 0, 0], [0, 0, 1]], 1)
    np.testing.assert_allclose(batch, [0.5, 0.2])


@pytest.mark.parametrize("num_ops, num_samples", [(8, 7), (5, 4), (8, 1), (8, 3), (4, 9)])
def test_most_probable_code_is_the_argmax_of_the_full_table(num_ops, num_samples):
    probs = _random_probs(num_ops, seed=4, rows=64)
    table = cd.code_probabilities(probs, num_samples).numpy()
    best = cd.all_codes(num_ops).numpy()[table.argmax(-1)]
    found = cd.most_probable_code(probs, num_samples).numpy()
    found_probs = table[np.arange(64), cd.code_index(found).numpy()]
    np.testing.assert_allclose(found_probs, table.max(-1), rtol=1e-12)
    assert np.mean(np.all(found == best, axis=-1)) == 1.0


def test_most_probable_code_under_xla_and_in_float32():
    probs = tf.constant(_random_probs(8, seed=5, rows=14), tf.float32)
    compiled = tf.function(lambda p: cd.most_probable_code(p, 7), jit_compile=True)
    np.testing.assert_array_equal(compiled(probs), cd.most_probable_code(probs, 7))
    uniform = tf.fill([1, 8], 1 / 8)
    assert cd.most_probable_code(uniform, 7).numpy().sum() == 5


def test_table_size_limit_names_the_alternative():
    with pytest.raises(ValueError, match="most_probable_code"):
        cd.code_probabilities(tf.fill([21], 1 / 21), 2)
