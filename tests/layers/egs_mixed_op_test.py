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


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
def test_gradients_reach_the_code_as_documented(stride, compiled):
    x, dense, sparse = _pair(stride)
    code = tf.Variable(CODES[0], dtype=tf.float32)

    def gradients(edge):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(edge(x, code, training=True) ** 2)
        return tape.gradient(loss, [code, x, *edge.trainable_weights])

    run = tf.function(gradients) if compiled else gradients
    (dense_code, dense_x, *dense_weights) = run(dense)
    (sparse_code, sparse_x, *sparse_weights) = run(sparse)
    # Input and weight gradients equal the dense ones; in a compiled step an inactive
    # operation's weights get zeros (so optimizers treat them as dense does), eagerly None.
    np.testing.assert_allclose(sparse_x, dense_x, rtol=1e-4, atol=1e-4)
    for d, s in zip(dense_weights, sparse_weights, strict=True):
        assert s is not None or not compiled
        np.testing.assert_allclose(np.zeros_like(d) if s is None else s, d, rtol=1e-4,
                                   atol=1e-4)
    active = np.array(CODES[0], bool)
    dense_code, sparse_code = dense_code.numpy(), sparse_code.numpy()
    assert np.all(dense_code[1:] != 0)  # every computed operation, active or not
    assert dense_code[0] == 0  # `none` contributes nothing
    np.testing.assert_allclose(sparse_code[active], dense_code[active], rtol=1e-4)
    np.testing.assert_array_equal(sparse_code[~active], 0.0)


def _fail_if_run(tensor, index):
    """`tensor`, from a stateless op that fails when run: a gather at index `index`."""
    flat = tf.reshape(tensor, [-1])
    bad = tf.cast(tf.reduce_sum(flat) * 0.0, tf.int32) + index
    return tensor + tf.gather(flat, bad[tf.newaxis])[0]


class Tripwire(operations.Identity):
    """An identity that fails the step when it runs (index 1000001), or, with `backward=True`,
    only when its gradient is computed (index 2000002)."""

    def __init__(self, filters, stride=1, backward=False, **kwargs):
        super().__init__(filters, stride, **kwargs)
        self.backward = backward

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones")

    def call(self, inputs, training=None):
        if not self.backward:
            return _fail_if_run(self.scale * inputs, 1_000_001)

        @tf.custom_gradient
        def identity(x):
            return tf.identity(x), lambda dy: _fail_if_run(dy, 2_000_002)

        return identity(self.scale * inputs)


operations.register_operation("forward_tripwire")(lambda f, s, search=False: Tripwire(f, s))
operations.register_operation("backward_tripwire")(
    lambda f, s, search=False: Tripwire(f, s, backward=True))
FORWARD_RAN, BACKWARD_RAN = r"indices\[0\] = 1000001", r"indices\[0\] = 2000002"


@pytest.mark.parametrize("execution", ["dense", "sparse"])
@pytest.mark.parametrize("compiled", [True, False])
def test_sparse_execution_runs_no_op_of_an_inactive_operation(execution, compiled):
    edge = EGSMixedOp(2, primitives=["skip_connect", "forward_tripwire", "backward_tripwire",
                                     "sep_conv_3x3"], execution=execution)
    x = tf.random.stateless_normal([2, 8, 8, 2], seed=[3, 4])

    def step(code):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(edge(x, code, training=True) ** 2)
        return loss, tape.gradient(loss, edge.trainable_weights)

    step = tf.function(step) if compiled else step
    if execution == "dense":
        with pytest.raises(tf.errors.InvalidArgumentError, match=FORWARD_RAN):
            step(tf.constant([1.0, 0.0, 0.0, 1.0]))
        return
    loss, grads = step(tf.constant([1.0, 0.0, 0.0, 1.0]))
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads if g is not None or compiled)
    with pytest.raises(tf.errors.InvalidArgumentError, match=FORWARD_RAN):
        step(tf.constant([0.0, 1.0, 0.0, 0.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=BACKWARD_RAN):
        step(tf.constant([0.0, 0.0, 1.0, 0.0]))


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


@pytest.mark.parametrize("execution", ["dense", "sparse"])
def test_operations_with_state_run_every_step(execution):
    primitives = ["none", "counting_identity", "counting_identity", "counting_identity"]
    edge = EGSMixedOp(2, primitives=primitives, execution=execution)
    step = tf.function(lambda x, c: edge(x, c, training=True))
    step(tf.zeros([1, 8, 8, 2]), tf.constant([0.0, 1.0, 0.0, 0.0]))
    processed = [float(op.pixels.numpy()) for op in edge.candidates.values()]
    assert processed == [64, 64, 64]  # its state must be updated, active or not


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
