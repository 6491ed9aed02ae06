import numpy as np
import pytest
import tensorflow as tf

from egs_keras.layers import operations
from egs_keras.layers.egs_mixed_op import EGSMixedOp

CODES = [
    [0, 1, 0, 1, 1, 0, 0, 1],
    [0, 0, 0, 0, 0, 1, 0, 0],
    [1, 0, 0, 0, 0, 0, 0, 0],  # only `none`: the edge outputs zeros
    [1, 1, 1, 1, 1, 1, 1, 1],
]


def _pair(stride, **kwargs):
    x = tf.random.stateless_normal([4, 8, 8, 6], seed=[1, stride])
    dense = EGSMixedOp(6, stride, execution="dense", **kwargs)
    sparse = EGSMixedOp(6, stride, execution="sparse", **kwargs)
    dense(x, tf.ones([8]))
    sparse(x, tf.ones([8]))
    sparse.set_weights(dense.get_weights())
    return x, dense, sparse


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("renormalize", [False, True])
def test_sparse_and_dense_give_the_same_output_for_the_same_code(stride, renormalize):
    x, dense, sparse = _pair(stride, renormalize=renormalize)
    compiled = tf.function(lambda x, c: sparse(x, c, training=True))
    for code in CODES:
        code = tf.constant(code, tf.float32)
        expected = dense(x, code, training=True)
        np.testing.assert_allclose(sparse(x, code, training=True), expected, atol=1e-5)
        np.testing.assert_allclose(compiled(x, code), expected, atol=1e-5)
    np.testing.assert_array_equal(dense(x, tf.constant(CODES[2], tf.float32)), 0.0)


def test_renormalize_divides_by_the_number_of_active_operations():
    x, plain, _ = _pair(1)
    scaled = EGSMixedOp(6, renormalize=True)
    scaled(x, tf.ones([8]))
    scaled.set_weights(plain.get_weights())
    code = tf.constant(CODES[0], tf.float32)  # four active operations
    np.testing.assert_allclose(scaled(x, code, training=True),
                               plain(x, code, training=True) / 4.0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_gradients_reach_the_code_as_documented(stride):
    x, dense, sparse = _pair(stride)
    code = tf.Variable(CODES[0], dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        dense_loss = tf.reduce_sum(dense(x, code, training=True) ** 2)
        sparse_loss = tf.reduce_sum(sparse(x, code, training=True) ** 2)
    dense_grad = tape.gradient(dense_loss, code).numpy()
    sparse_grad = tape.gradient(sparse_loss, code).numpy()
    # The crop/pad custom gradients: input and weight gradients equal the dense ones.
    np.testing.assert_allclose(tape.gradient(sparse_loss, x), tape.gradient(dense_loss, x),
                               rtol=1e-4, atol=1e-4)
    for d, s in zip(tape.gradient(dense_loss, dense.trainable_weights),
                    tape.gradient(sparse_loss, sparse.trainable_weights), strict=True):
        np.testing.assert_allclose(s, d, rtol=1e-4, atol=1e-4)
    active = np.array(CODES[0], bool)
    assert np.all(dense_grad[1:] != 0)  # every computed operation, active or not
    assert dense_grad[0] == 0  # `none` contributes nothing
    np.testing.assert_allclose(sparse_grad[active], dense_grad[active], rtol=1e-4)
    np.testing.assert_array_equal(sparse_grad[~active], 0.0)


@operations.register_operation("counting_identity")
def _counting_identity(filters, stride, search=False):
    return CountingIdentity(filters, stride)


class CountingIdentity(operations.Identity):
    """A scaled identity that counts the pixels it processes, to see what sparse skips."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        self.pixels = self.add_weight(name="pixels", shape=(), initializer="zeros",
                                      trainable=False)

    def call(self, inputs, training=None):
        self.pixels.assign_add(tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), tf.float32))
        return self.scale * inputs


@pytest.mark.parametrize("execution, expected", [("dense", [64, 64, 64]), ("sparse", [64, 1, 1])])
def test_sparse_execution_skips_inactive_operations(execution, expected):
    primitives = ["none", "counting_identity", "counting_identity", "counting_identity"]
    edge = EGSMixedOp(2, primitives=primitives, execution=execution)
    step = tf.function(lambda x, c: edge(x, c, training=True))
    step(tf.zeros([1, 8, 8, 2]), tf.constant([0.0, 1.0, 0.0, 0.0]))
    processed = [float(op.pixels.numpy()) for op in edge.candidates.values()]
    assert processed == expected  # an inactive op touches a 1x1 crop per image, not 8x8


def test_config_round_trip_and_jit_support():
    edge = EGSMixedOp(8, 2, primitives=["none", "skip_connect"], execution="sparse",
                      renormalize=True, name="edge")
    clone = EGSMixedOp.from_config(edge.get_config())
    assert clone.get_config() == edge.get_config()
    assert not edge.supports_jit and EGSMixedOp(8).supports_jit


def test_bad_mixed_op_arguments():
    with pytest.raises(ValueError, match="`execution`, expected one of"):
        EGSMixedOp(8, execution="lazy")
    with pytest.raises(ValueError, match="`primitives`.*conv_9x9"):
        EGSMixedOp(8, primitives=["none", "conv_9x9"])
    with pytest.raises(ValueError, match="with 4 channels, expected `filters` = 8"):
        EGSMixedOp(8)(tf.zeros([1, 4, 4, 4]), tf.ones([8]))
    with pytest.raises(ValueError, match=r"code of shape \(5,\), expected \[8\]"):
        EGSMixedOp(4)(tf.zeros([1, 4, 4, 4]), tf.ones([5]))
