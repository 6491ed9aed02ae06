import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.layers import batch_norm
from egs_keras.layers import candidate_operation
from egs_keras.layers import operations


@pytest.mark.parametrize("name", search_space.CNN_PRIMITIVES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [8, 7])
def test_every_operation_keeps_channels_and_applies_its_stride(name, stride, size):
    x = tf.random.normal([2, size, size, 6])
    for search in (False, True):
        op = operations.get_operation(name, 6, stride, search=search)
        y = op(x, training=True)
        expected = -(-size // stride)
        assert y.shape == (2, expected, expected, 6)
        assert tuple(y.shape) == tuple(op.compute_output_shape(x.shape))


def test_weights_follow_darts_structure():
    x = tf.zeros([1, 8, 8, 4])
    counts = {}
    for name in ["sep_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "skip_connect"]:
        op = operations.get_operation(name, 4, 1, search=True)
        op(x)
        counts[name] = len(op.trainable_weights)
    # sep conv: two (depthwise, pointwise) units; dil conv: one; search BNs have no weights.
    assert counts == {"sep_conv_3x3": 4, "dil_conv_5x5": 2, "max_pool_3x3": 0, "skip_connect": 0}
    reduce = operations.get_operation("skip_connect", 4, 2)
    reduce(x)
    assert isinstance(reduce, operations.FactorizedReduce) and len(reduce.trainable_weights) == 4


def test_dilated_convolutions_skip_pixels_and_separable_ones_stack():
    impulse = np.zeros([1, 15, 15, 1], "float32")
    impulse[0, 7, 7, 0] = 1.0
    reach = {}
    for name in ["sep_conv_3x3", "dil_conv_3x3", "dil_conv_5x5"]:
        op = operations.get_operation(name, 1, 1)
        op(impulse)
        for weight in op.trainable_weights:
            if "depthwise" in weight.path or "pointwise" in weight.path:
                weight.assign(tf.ones_like(weight))
        response = op(impulse, training=False).numpy()[0, 7, :, 0]
        reach[name] = np.flatnonzero(np.abs(response) > 1e-6).tolist()
    assert reach["sep_conv_3x3"] == [5, 6, 7, 8, 9]  # two stacked 3x3 convolutions
    assert reach["dil_conv_3x3"] == [5, 7, 9]  # one 3x3 convolution, dilation 2
    assert reach["dil_conv_5x5"] == [3, 5, 7, 9, 11]


@pytest.mark.parametrize("name", ["dil_conv_3x3", "dil_conv_5x5"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [8, 7])  # 7: the sides do not split into 2×2 sub-grids
def test_dilated_convolutions_match_tf_dilated_depthwise_values_and_gradients(name, stride, size):
    """The sub-grid forms (and the fallback) equal TF's dilated depthwise convolution, sampled
    at multiples of the stride as PyTorch's DARTS does, in value and in both gradients."""
    x = tf.random.stateless_normal([2, size, size, 3], seed=[1, size])
    op = operations.get_operation(name, 3, stride)
    op(x)

    def reference(images):
        y = tf.nn.depthwise_conv2d(tf.nn.relu(images), op.depthwise[0], [1, 1, 1, 1], "SAME",
                                   dilations=[2, 2])[:, ::stride, ::stride]
        return op.bns[0](tf.nn.conv2d(y, op.pointwise[0], 1, "SAME"), training=True)

    results = []
    for function in (lambda images: op(images, training=True), reference):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
            loss = tf.reduce_sum(y * tf.cos(y))
        results.append([y, *tape.gradient(loss, [x, op.depthwise[0]])])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def _delta_weights(op):
    """Kernels that pass the centre pixel through: a depthwise delta, identity 1×1
    convolutions (the odd-pixel half of a factorized reduce off)."""
    for weight in op.trainable_weights:
        value = np.zeros(weight.shape, "float32")
        if "depthwise" in weight.path:
            value[weight.shape[0] // 2, weight.shape[1] // 2] = 1.0
        elif "pointwise" in weight.path or "kernel_a" in weight.path:
            value[0, 0] = np.eye(weight.shape[2], weight.shape[3])
        elif "gamma" in weight.path:
            value[:] = 1.0
        weight.assign(value)


@pytest.mark.parametrize("name", [n for n in search_space.CNN_PRIMITIVES if n != "none"])
@pytest.mark.parametrize("size", [8, 7])
def test_stride_two_operations_centre_output_i_on_input_2i(name, size):
    """Every stride-2 candidate of a reduction edge reads the same pixels (they are summed):
    an impulse at input (2i, 2j) lands at output (i, j) and nowhere else, as in DARTS."""
    op = operations.get_operation(name, 2, 2)  # 2 channels: a factorized reduce has halves
    last = (size - 1) // 2  # the last output row: input row 2·last is inside the image
    for i, j in [(1, 2), (0, 0), (last, last)]:
        x = np.zeros([1, size, size, 2], "float32")
        x[0, 2 * i, 2 * j, 0] = 1.0
        op(x)
        _delta_weights(op)
        y = op(x, training=False).numpy()[0, :, :, 0]
        y -= op(np.zeros_like(x), training=False).numpy()[0, :, :, 0]
        assert np.argwhere(np.abs(y) > 1e-3).tolist() == [[i, j]], (name, i, j, y)


def _max_pool_reference(x):
    """DARTS' MaxPool2d(3, stride=2, padding=1): -inf padding, windows centred on 2i."""
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=-np.inf)
    rows, cols = (x.shape[1] - 1) // 2 + 1, (x.shape[2] - 1) // 2 + 1
    return np.stack([np.stack([padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2))
                               for j in range(cols)], 1) for i in range(rows)], 1)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 8, 3), (1, 5, 9, 2)])
def test_stride_two_max_pooling_is_darts_in_training_and_inference(shape, training):
    """Negative inputs (any padding value above them would win), of even and odd sides, with
    their sides known and unknown when traced; training and inference pad differently."""
    op = operations.get_operation("max_pool_3x3", shape[-1], 2)
    x = -1.0 - np.random.default_rng(0).random(shape).astype("float32")
    expected = _max_pool_reference(x)
    np.testing.assert_array_equal(op(x, training=training), expected)
    unknown = tf.function(lambda t: op(t, training=training)).get_concrete_function(
        tf.TensorSpec([None, None, None, shape[-1]], tf.float32))
    np.testing.assert_array_equal(unknown(tf.constant(x)), expected)


@pytest.mark.parametrize("stride", [1, 2])
def test_average_pooling_ignores_padding(stride):
    op = operations.get_operation("avg_pool_3x3", 1, stride)
    np.testing.assert_allclose(op(tf.ones([1, 5, 5, 1])), np.ones([1, 3 if stride == 2 else 5,
                                                                   3 if stride == 2 else 5, 1]),
                               rtol=1e-6)


def test_factorized_reduce_keeps_odd_pixels():
    op = operations.get_operation("skip_connect", 2, 2)
    x = np.zeros([1, 4, 4, 2], "float32")
    x[0, 1, 1] = 1.0  # a pixel that a plain stride-2 1x1 convolution would skip
    op(x)
    for weight in op.trainable_weights:
        if "kernel" in weight.path:
            weight.assign(tf.ones_like(weight))
    baseline = op(np.zeros_like(x), training=False).numpy()
    assert np.abs(op(x, training=False).numpy() - baseline).max() > 0.1


@pytest.mark.parametrize("size", [8, 7])
def test_factorized_reduce_is_two_offset_strided_convolutions(size):
    """DARTS' definition: concat(conv1x1/2(x), conv1x1/2(pad(x[1:, 1:]))), then batch norm."""
    x = tf.random.stateless_normal([2, size, size, 3], seed=[2, size])
    op = operations.get_operation("skip_connect", 6, 2)
    op(x)

    def reference(images):
        relu = tf.nn.relu(images)
        shifted = tf.pad(relu[:, 1:, 1:], [[0, 0], [0, 1], [0, 1], [0, 0]])
        y = tf.concat([tf.nn.conv2d(relu, op.kernel_a, 2, "VALID"),
                       tf.nn.conv2d(shifted, op.kernel_b, 2, "VALID")], axis=-1)
        return op.bn(y, training=True)

    results = []
    for function in (lambda images: op(images, training=True), reference):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
            loss = tf.reduce_sum(y * tf.cos(y))
        results.append([y, *tape.gradient(loss, [x, op.kernel_a, op.kernel_b])])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_batch_norm_statistics():
    x = tf.random.normal([64, 4, 4, 3], mean=5.0, stddev=2.0)
    tracked = batch_norm.BatchNorm(track_statistics=True, momentum=0.0)
    normalised = tracked(x, training=True).numpy()
    assert abs(normalised.mean()) < 1e-3 and abs(normalised.std() - 1) < 1e-2
    np.testing.assert_allclose(tracked.moving_mean.numpy(), tf.reduce_mean(x, [0, 1, 2]),
                               rtol=1e-4)
    shifted = tracked(x + 1.0, training=False).numpy()  # inference: running statistics
    assert abs(shifted.mean() - 0.5) < 0.05
    untracked = batch_norm.BatchNorm(affine=False, track_statistics=False)
    assert abs(untracked(x + 1.0, training=False).numpy().mean()) < 1e-3  # batch statistics
    assert not untracked.weights


def test_users_can_register_operations():
    @operations.register_operation("conv_1x1_test")
    def _factory(filters, stride, search=False):
        return operations.ReLUConvBN(filters, 1, stride, **operations.search_options(search))

    op = operations.get_operation("conv_1x1_test", 4, 2)
    assert op(tf.zeros([1, 6, 6, 4])).shape == (1, 3, 3, 4)
    assert "conv_1x1_test" in operations.operation_names()


def test_operation_layers_round_trip_through_config():
    op = operations.get_operation("sep_conv_5x5", 4, 2, search=True)
    clone = type(op).from_config(op.get_config())
    assert clone.get_config() == op.get_config()
    bn = batch_norm.BatchNorm(affine=False, momentum=0.5)
    assert batch_norm.BatchNorm.from_config(bn.get_config()).get_config() == bn.get_config()
    assert keras.saving.get_registered_object("egs_keras>DilConv") is operations.DilConv


def test_bad_operation_arguments():
    with pytest.raises(ValueError, match=r"`primitives`, expected registered operation names"):
        operations.get_operation("conv_9x9", 4)
    with pytest.raises(ValueError, match="`stride`, expected 1 or 2, got 3"):
        operations.get_operation("max_pool_3x3", 4, 3)
    with pytest.raises(ValueError, match="`filters`, expected a positive integer"):
        operations.get_operation("max_pool_3x3", 0)
    with pytest.raises(ValueError, match="`pool_type`"):
        operations.Pooling(4, pool_type="median")


@pytest.mark.parametrize("name", [n for n in search_space.CNN_PRIMITIVES if n != "none"])
@pytest.mark.parametrize("search", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
def test_output_scale_is_the_product_in_value_and_every_gradient(name, search, stride):
    """`scaled_call` folds the scale into the last batch norm; it must equal s · op(x) for
    the output and for the gradients of x, s and every weight (the code entry's
    straight-through gradient), in training and inference."""
    x = tf.random.stateless_normal([2, 8, 8, 4], seed=[5, stride])
    op = operations.get_operation(name, 4, stride, search=search)
    op(x)
    for i, weight in enumerate(op.trainable_weights):  # seeded; batch norms away from (1, 0)
        weight.assign(tf.random.stateless_normal(weight.shape, seed=[6, i]) * 0.5)
    scale = tf.Variable(-0.7)
    for training in (True, False):
        results = []
        for function in (lambda t=training: candidate_operation.scaled_call(op, x, scale, t),
                         lambda t=training: scale * op(x, training=t)):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = function()
                loss = tf.reduce_sum(y * tf.cos(y))
            results.append([y, *tape.gradient(loss, [x, scale, *op.trainable_weights])])
        for ours, theirs in zip(*results, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["sep_conv_3x3", "dil_conv_5x5", "skip_connect"])
def test_operations_without_own_kernels_run_on_given_ones(name):
    x = tf.random.stateless_normal([2, 8, 8, 4], seed=[8, 9])
    owner = operations.get_operation(name, 4, 2, search=True)
    owner(x)
    borrower = operations.get_operation(name, 4, 2, search=True, own_kernels=False)
    assert candidate_operation.takes_kernels(borrower) and not borrower.own_kernels
    kernels = {n: tf.constant(w.numpy()) for n, w in
               zip(owner.kernel_shapes(x.shape), owner.trainable_weights, strict=True)}
    np.testing.assert_allclose(borrower(x, training=True, kernels=kernels),
                               owner(x, training=True), rtol=1e-5, atol=1e-5)
    assert not borrower.weights
    with pytest.raises(ValueError, match="Received no `kernels` for operation"):
        borrower(x, training=True)


def test_fused_batch_norm_gradient_matches_the_unfused_formula():
    """The batch norm records its own gradient on the tape (no zero tensors for unused
    outputs); it must equal the gradient of the textbook formula, eagerly and compiled."""
    x = tf.random.stateless_normal([8, 3, 3, 5], seed=[1, 2]) * 3.0 + 1.0
    bn = batch_norm.BatchNorm(affine=True, track_statistics=True)
    bn(x, training=True)
    bn.gamma.assign([0.5, 1.0, 1.5, 2.0, -1.0])
    bn.beta.assign([0.1, 0.2, 0.3, 0.4, 0.5])

    def gradients(function):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
            loss = tf.reduce_sum(y * tf.sin(y))
        return [y, *tape.gradient(loss, [x, bn.gamma, bn.beta])]

    def textbook(images):
        mean, variance = tf.nn.moments(images, [0, 1, 2])
        return tf.nn.batch_normalization(images, mean, variance, bn.beta, bn.gamma, bn.epsilon)

    expected = gradients(textbook)
    for run in (gradients, tf.function(gradients)):
        for ours, theirs in zip(run(lambda images: bn(images, training=True)), expected,
                                strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
