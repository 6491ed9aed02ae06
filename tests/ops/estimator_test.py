import numpy as np
import pytest
import tensorflow as tf

from egs_keras import ops
from egs_keras.ops import estimator


def _soft_code(logits, noise, temperature, prior=None, weight=1.0):
    log_p = ops.log_probabilities(logits, prior, weight)
    return tf.reduce_max(tf.nn.softmax(estimator.scaled_samples(log_p, noise, temperature)), 0)


@pytest.mark.parametrize("num_ops, num_samples", [(8, 7), (5, 4), (8, 1), (3, 10)])
def test_codes_are_binary_with_one_to_m_ones(num_ops, num_samples):
    logits = tf.random.stateless_normal([500, num_ops], seed=[1, 2])
    code = ops.ensemble_gumbel_softmax(logits, num_samples, 1.0, seed=0).numpy()
    assert code.shape == (500, num_ops)
    assert set(np.unique(code)) <= {0.0, 1.0}
    ones = code.sum(-1)
    assert ones.min() >= 1 and ones.max() <= min(num_samples, num_ops)
    assert ones.max() > 1 or num_samples == 1


def test_hard_code_marks_the_argmax_of_each_sample():
    logits = tf.constant([[0.1, 2.0, -1.0, 0.5]])
    noise = tf.constant([[[0.0, 0.0, 5.0, 0.0]], [[3.0, 0.0, 0.0, 0.0]]])  # samples pick 2, 0
    code = ops.ensemble_gumbel_softmax(logits, 2, 0.5, noise=noise)
    np.testing.assert_array_equal(code, [[1.0, 0.0, 1.0, 0.0]])


def test_noise_depends_on_seed_step_and_replica_only():
    logits = tf.zeros([64, 8])
    a = ops.ensemble_gumbel_softmax(logits, 3, 1.0, seed=1, step=2, replica=0)
    np.testing.assert_array_equal(a, ops.ensemble_gumbel_softmax(logits, 3, 1.0, seed=1, step=2))
    assert not np.array_equal(a, ops.ensemble_gumbel_softmax(logits, 3, 1.0, seed=1, step=3))
    assert not np.array_equal(a, ops.ensemble_gumbel_softmax(logits, 3, 1.0, seed=1, step=2,
                                                             replica=1))


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_straight_through_gradient_matches_the_soft_relaxation(with_prior, temperature):
    """The hard code's Jacobian equals the soft relaxation's, analytically and numerically."""
    logits = tf.constant(np.random.default_rng(0).normal(size=(3, 5)), tf.float64)
    noise = ops.gumbel_noise([4, 3, 5], seed=11, dtype=tf.float64)
    prior = ops.cost_prior([0.0, 1.0, 2.0, 4.0, 0.5], tf.float64) if with_prior else None
    weight = 0.5 if with_prior else 1.0

    def hard(x):
        return ops.ensemble_gumbel_softmax(
            x, 4, temperature, noise=noise, prior=prior, effectiveness_weight=weight
        )

    def soft(x):
        return _soft_code(x, noise, temperature, prior, weight)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        hard_code, soft_code = hard(logits), soft(logits)
    hard_jacobian = tape.jacobian(hard_code, logits)
    np.testing.assert_allclose(hard_jacobian, tape.jacobian(soft_code, logits), atol=1e-12)
    theoretical, numerical = tf.test.compute_gradient(soft, [logits], delta=1e-6)
    np.testing.assert_allclose(
        tf.reshape(hard_jacobian, numerical[0].shape), numerical[0], atol=1e-6
    )
    assert np.abs(hard_jacobian).max() > 1e-3  # the check is not vacuous


def test_soft_relaxation_and_no_straight_through():
    logits = tf.Variable(tf.random.stateless_normal([6, 4], seed=[0, 1]))
    with tf.GradientTape(persistent=True) as tape:
        soft = ops.ensemble_gumbel_softmax(logits, 3, 1.0, seed=5, hard=False)
        stopped = ops.ensemble_gumbel_softmax(logits, 3, 1.0, seed=5, straight_through=False)
    hard = ops.ensemble_gumbel_softmax(logits, 3, 1.0, seed=5)
    assert np.all((soft.numpy() > 0) & (soft.numpy() <= 1))
    np.testing.assert_array_equal(tf.cast(soft >= 0.5, tf.float32) * hard, tf.cast(soft >= 0.5,
                                                                                 tf.float32))
    np.testing.assert_array_equal(stopped, hard)
    gradient = tape.gradient(stopped, logits)
    assert gradient is None or np.all(gradient.numpy() == 0)
    assert np.abs(tape.gradient(soft, logits).numpy()).max() > 0


def test_works_in_tf_function_and_under_xla():
    logits = tf.random.stateless_normal([14, 8], seed=[3, 4])
    temperature = tf.Variable(1.0)

    def sample(x, step):
        return ops.ensemble_gumbel_softmax(x, 7, temperature, seed=2, step=step)

    eager = sample(logits, 5)
    np.testing.assert_array_equal(tf.function(sample)(logits, tf.constant(5)), eager)
    compiled = tf.function(sample, jit_compile=True)  # XLA draws another, reproducible stream
    xla = compiled(logits, tf.constant(5)).numpy()
    np.testing.assert_array_equal(xla, compiled(logits, tf.constant(5)))
    assert set(np.unique(xla)) == {0.0, 1.0} and 1 <= xla.sum(-1).min()
    dynamic = tf.function(sample, input_signature=[tf.TensorSpec([None, 8]), tf.TensorSpec([],
                                                                                     tf.int32)])
    assert dynamic(logits[:3], tf.constant(0)).shape == (3, 8)


@pytest.mark.parametrize("target", [[1, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 1]])
def test_gradient_descent_drives_the_most_probable_code_to_a_target(target):
    """Known answer: minimising E‖code − target‖² through the straight-through gradient."""
    target = tf.constant(target, tf.float32)
    logits = tf.Variable(tf.zeros([5]))
    optimizer = tf.keras.optimizers.Adam(0.1)

    @tf.function
    def step(i):
        with tf.GradientTape() as tape:
            code = ops.ensemble_gumbel_softmax(
                tf.broadcast_to(logits, [64, 5]), 4, 1.0, seed=0, step=i
            )
            loss = tf.reduce_mean(tf.reduce_sum(tf.square(code - target), -1))
        optimizer.apply_gradients([(tape.gradient(loss, logits), logits)])
        return loss

    for i in range(300):
        step(tf.constant(i))
    best = ops.most_probable_code(tf.nn.softmax(logits), 4)
    np.testing.assert_array_equal(best, target)


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(num_samples=0), "`num_samples`, expected a positive integer, got 0"),
     (dict(num_samples=2.5), "`num_samples`, expected a positive integer, got 2.5"),
     (dict(temperature=0.0), "`temperature`, expected a finite number greater than 0, got 0.0"),
     (dict(temperature=-1), "`temperature`, expected a finite number greater than 0, got -1"),
     (dict(effectiveness_weight=1.5, prior=[0.5, 0.5]), r"`effectiveness_weight`.*\[0, 1\].*1.5"),
     (dict(logits=3.0), r"`logits`, expected a tensor of shape \[..., K\]")],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    arguments = dict(logits=tf.zeros([2]), num_samples=2, temperature=1.0)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ops.ensemble_gumbel_softmax(**arguments)
