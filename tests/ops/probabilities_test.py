import numpy as np
import pytest
import tensorflow as tf

from egs_keras.ops import probabilities


def test_cost_prior_favours_cheap_operations_and_is_scale_free():
    prior = probabilities.cost_prior([0.0, 1.0, 3.0, 2.0]).numpy()
    np.testing.assert_allclose(prior.sum(), 1.0, rtol=1e-6)
    assert prior[0] > prior[1] > prior[3] > prior[2] > 0
    np.testing.assert_allclose(prior[0] / prior[2], np.e, rtol=1e-5)
    np.testing.assert_allclose(probabilities.cost_prior([0.0, 1e6, 3e6, 2e6]), prior, rtol=1e-6)
    np.testing.assert_allclose(probabilities.cost_prior([5.0] * 4), [0.25] * 4, rtol=1e-6)
    np.testing.assert_allclose(probabilities.cost_prior([0.0] * 3), [1 / 3] * 3, rtol=1e-6)


def test_neutral_operations_keep_the_uniform_share_whatever_the_costs():
    """`none` (no connection) is not a cheap operation: it keeps 1/K of l; the costed
    operations share the rest by cost, with the same ratios as without it."""
    costs = [[0.0, 1.0, 3.0, 2.0], [9.0, 0.0, 0.0, 5.0]]
    prior = probabilities.cost_prior(costs, neutral_ops=[0]).numpy()
    np.testing.assert_allclose(prior[:, 0], 0.25, rtol=1e-6)
    np.testing.assert_allclose(prior.sum(-1), 1.0, rtol=1e-6)
    alone = probabilities.cost_prior([[1.0, 3.0, 2.0], [0.0, 0.0, 5.0]]).numpy()
    np.testing.assert_allclose(prior[:, 1:], 0.75 * alone, rtol=1e-5)
    np.testing.assert_allclose(probabilities.cost_prior([0.0, 7.0], neutral_ops=[0, 1]),
                               [0.5, 0.5])
    with pytest.raises(ValueError, match=r"`neutral_ops`, expected indices of operations in"):
        probabilities.cost_prior([0.0, 1.0], neutral_ops=[2])


def test_strength_sets_how_far_cost_separates_operations():
    costs = [1.0, 2.0, 4.0]
    for strength in (0.0, 0.5, 1.0, 3.0):
        prior = probabilities.cost_prior(costs, strength=strength).numpy()
        np.testing.assert_allclose(prior[0] / prior[2], np.exp(strength * 0.75), rtol=1e-5)
    with pytest.raises(ValueError, match="`strength`, expected a finite number >= 0"):
        probabilities.cost_prior(costs, strength=-1.0)


def test_a_table_of_costs_gives_one_prior_per_row():
    table = [[0.0, 1.0, 3.0, 2.0], [0.0, 10.0, 10.0, 10.0], [4.0, 4.0, 4.0, 4.0]]
    prior = probabilities.cost_prior(table).numpy()
    for row, costs in zip(prior, table, strict=True):
        np.testing.assert_allclose(row, probabilities.cost_prior(costs), rtol=1e-6)


@pytest.mark.parametrize(
    "costs, message",
    [([1.0, -2.0], "non-negative"), ([1.0, float("nan")], "finite"), (3.0, "non-empty"),
     ([], "non-empty"), ("cheap", "non-negative numbers")],
)
def test_cost_prior_rejects_bad_costs(costs, message):
    with pytest.raises(ValueError, match=f"`op_costs`.*{message}"):
        probabilities.cost_prior(costs)


def test_log_probabilities_mixes_softmax_and_prior():
    logits = tf.constant([[1.0, -0.5, 2.0]], tf.float64)
    prior = tf.constant([0.2, 0.5, 0.3], tf.float64)
    softmax = tf.nn.softmax(logits).numpy()
    for weight in [0.0, 0.3, 0.5, 1.0]:
        log_p = probabilities.log_probabilities(logits, prior, weight).numpy()
        np.testing.assert_allclose(np.exp(log_p), weight * softmax + (1 - weight) * prior)
    np.testing.assert_allclose(
        probabilities.log_probabilities(logits), tf.nn.log_softmax(logits), rtol=1e-12
    )


def test_no_gradient_reaches_logits_through_the_prior():
    logits = tf.Variable([0.3, -0.2, 0.9], dtype=tf.float64)
    prior = tf.constant([0.2, 0.5, 0.3], tf.float64)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(probabilities.log_probabilities(logits, prior, 0.0) * [1, 2, 3])
    gradient = tape.gradient(value, logits)
    assert gradient is None or np.allclose(gradient, 0.0)


@pytest.mark.parametrize("weight", [-0.1, 1.5, True, "half"])
def test_effectiveness_weight_outside_unit_interval_is_rejected(weight):
    with pytest.raises(ValueError, match=r"`effectiveness_weight`, expected a number in \[0, 1\]"):
        probabilities.log_probabilities(tf.zeros([3]), tf.fill([3], 1 / 3), weight)
