import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras.layers import execution_modes
from egs_keras.ops import gating


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(), initializer="ones")

    def call(self, inputs):
        return self.w * inputs


def test_gated_sum_values_and_gradients_for_both_predicates():
    """x + 3·w·x if pred else x: a numerical check of every gradient, many times in a row
    (a Merge that ever saw two live inputs would give wrong values at random)."""
    x = tf.Variable(tf.random.stateless_normal([4, 3], seed=[1, 2]))
    layer = Scale()
    layer.build(())
    layer.w.assign(2.0)

    @tf.function
    def step(pred):
        with tf.GradientTape() as tape:
            term = 3.0 * execution_modes.call_if(layer, gating.gate(x * 1.0, pred), pred)
            loss = tf.reduce_sum(gating.add_if(x * 1.0, term, pred) ** 2)
        return loss, tape.gradient(loss, [x, layer.w])

    x0 = x.numpy()
    for _ in range(20):
        for pred in (True, False):
            loss, (dx, dw) = step(tf.constant(pred))
            factor = 7.0 if pred else 1.0
            np.testing.assert_allclose(loss, np.sum((factor * x0) ** 2), rtol=1e-5)
            np.testing.assert_allclose(dx, 2 * factor**2 * x0, rtol=1e-5)
            expected_dw = np.sum(2 * factor * x0 * 3 * x0) if pred else 0.0
            np.testing.assert_allclose(dw, expected_dw, rtol=1e-5, atol=1e-6)


def test_gate_alone_gives_zero_gradient_when_false():
    x = tf.constant([1.0, -2.0])

    @tf.function
    def grad(pred):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = gating.add_if(tf.zeros([2]), 5.0 * gating.gate(x, pred), pred)
        return tape.gradient(y, x)

    np.testing.assert_array_equal(grad(tf.constant(True)), [5.0, 5.0])
    np.testing.assert_array_equal(grad(tf.constant(False)), [0.0, 0.0])


def test_call_if_refuses_layers_with_state_or_stateful_ops():
    class Printing(keras.layers.Layer):
        def call(self, inputs):
            tf.print("running")
            return inputs

    @tf.function
    def run(layer):
        pred = tf.constant(True)
        return execution_modes.call_if(layer, gating.gate(tf.ones([2]), pred), pred)

    with pytest.raises(ValueError, match=r"'printing'.*stateful ops \[.*PrintV2.*stateless"):
        run(Printing(name="printing"))
    counting = keras.layers.BatchNormalization(name="bn")
    counting.build((None, 2))
    with pytest.raises(ValueError, match="'bn' with non-trainable variables.*must run every"):
        run(counting)


def test_gate_each_sums_the_gradients_of_the_live_copies():
    x = tf.constant([1.0, -2.0])

    @tf.function
    def grad(bits):
        preds = tf.unstack(bits, num=3)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.zeros([2])
            for k, (copy, pred) in enumerate(zip(gating.gate_each(x, preds), preds, strict=True)):
                total = gating.add_if(total, (k + 1.0) * copy, pred)
            loss = tf.reduce_sum(total * [1.0, 10.0])
        return loss, tape.gradient(loss, x)

    for bits in ([1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1]):
        loss, dx = grad(tf.constant(bits) > 0)
        factor = float(np.dot(bits, [1.0, 2.0, 3.0]))
        np.testing.assert_allclose(loss, factor * (1.0 - 20.0))
        np.testing.assert_allclose(dx, [factor, 10.0 * factor])
