import numpy as np
import pytest
import tensorflow as tf

from egs_keras.layers import execution_modes
from egs_keras.layers.egs_cell import EGSCell
from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
from egs_keras.layers.execution_modes import EXECUTION_MODES
from egs_keras.ops import ensemble_gumbel_softmax
from egs_keras.ops import gumbel_noise


@pytest.mark.parametrize(
    "num_nodes, reduction, reduction_prev, shapes, expected",
    [(7, False, False, ([2, 8, 8, 5], [2, 8, 8, 7]), (2, 8, 8, 16)),
     (7, True, False, ([2, 8, 8, 5], [2, 8, 8, 7]), (2, 4, 4, 16)),
     (5, False, True, ([2, 16, 16, 5], [2, 8, 8, 7]), (2, 8, 8, 8)),
     (4, True, True, ([2, 16, 16, 3], [2, 8, 8, 3]), (2, 4, 4, 4))],
)
def test_cell_shapes(num_nodes, reduction, reduction_prev, shapes, expected):
    cell = EGSCell(4, num_nodes, reduction, reduction_prev)
    codes = tf.ones([len(cell.edges), 8])
    inputs = [tf.random.normal(s) for s in shapes]
    assert cell(inputs, codes, training=True).shape == expected
    assert tuple(cell.compute_output_shape([s for s in shapes])) == expected
    assert len(cell.edges) == (num_nodes - 3) * (num_nodes - 3 + 3) // 2
    strides = [edge.stride for edge in cell.edge_ops]
    assert strides == [2 if reduction and i < 2 else 1 for i, _ in cell.edges]


def test_sparse_cell_matches_dense_cell():
    dense, sparse = EGSCell(4, 6, execution="dense"), EGSCell(4, 6, execution="sparse")
    inputs = [tf.random.stateless_normal([2, 8, 8, 4], seed=[0, i]) for i in range(2)]
    codes = tf.cast(tf.random.stateless_uniform([9, 8], seed=[3, 4]) > 0.6, tf.float32)
    dense(inputs, codes)
    sparse(inputs, codes)
    sparse.set_weights(dense.get_weights())
    np.testing.assert_allclose(sparse(inputs, codes, training=True),
                               dense(inputs, codes, training=True), atol=1e-4)


def test_cell_config_round_trip():
    cell = EGSCell(4, 5, reduction=True, primitives=["none", "skip_connect", "max_pool_3x3"],
                   execution="sparse", renormalize=True, name="c")
    assert EGSCell.from_config(cell.get_config()).get_config() == cell.get_config()


def test_bad_cell_arguments():
    for bad in [2, 3, 3.5]:
        with pytest.raises(ValueError, match="`num_nodes`, expected an integer >= 4"):
            EGSCell(4, bad)
    cell = EGSCell(4, 5)
    with pytest.raises(ValueError, match=r"codes of shape \(4, 8\), expected \[5, 8\]"):
        cell([tf.zeros([1, 4, 4, 4])] * 2, tf.ones([4, 8]))
    with pytest.raises(ValueError, match="twice the resolution"):
        EGSCell(4, 5, reduction_prev=True)([tf.zeros([1, 4, 4, 4])] * 2, tf.ones([5, 8]))


def test_cell_keeps_one_variable_per_operation_kernel_for_all_edges():
    """The edges' kernels are stacked (12 variables for DARTS' 8 operations on 14 edges,
    instead of 168), each edge's kernel initialised He-normal with one kernel's fan-in, and
    in a sparse step an inactive operation's slice gets a zero gradient."""
    cell = EGSCell(16, 7, execution="sparse")
    inputs = [tf.random.stateless_normal([2, 8, 8, 16], seed=[1, i]) for i in range(2)]
    cell(inputs, tf.ones([14, 8]))
    stacked = {v.name: v for v in cell.stacked_weights()}
    assert sorted(stacked) == sorted(
        f"{k}_{op}_{kind}_{r}" for k, op, repeats in
        [(4, "sep_conv_3x3", 2), (5, "sep_conv_5x5", 2), (6, "dil_conv_3x3", 1),
         (7, "dil_conv_5x5", 1)] for r in range(repeats) for kind in ("depthwise", "pointwise"))
    assert all(v.shape[0] == 14 for v in stacked.values())
    assert not [w for edge in cell.edge_ops for w in edge.weights]
    # Keras' fan-in of one kernel: 5·5·16 for a [5, 5, 16, 1] depthwise kernel, 16 for 1×1.
    depthwise = stacked["5_sep_conv_5x5_depthwise_0"].numpy()
    pointwise = stacked["5_sep_conv_5x5_pointwise_0"].numpy()
    for values, fan_in in ((depthwise, 400), (pointwise, 16)):
        assert abs(values.std() / np.sqrt(2.0 / fan_in) - 1) < 0.1
        assert np.abs(values).max() <= 2 * np.sqrt(2.0 / fan_in) / 0.87962566 + 1e-6
    assert len({float(values[e].sum()) for e in range(14) for values in [depthwise]}) == 14

    codes = np.zeros([14, 8], "float32")
    codes[:, 3] = 1.0  # skip_connect everywhere, and sep_conv_5x5 on edge 0 only
    codes[0, 5] = 1.0

    @tf.function
    def gradient(codes):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(cell(inputs, codes, training=True) ** 2)
        return tape.gradient(loss, stacked["5_sep_conv_5x5_depthwise_0"])

    slices = gradient(tf.constant(codes)).numpy()
    assert np.abs(slices[0]).max() > 0 and np.all(slices[1:] == 0)


def _alpha_gradient(cell, inputs, logits, noise, upstream, probe_weights=None):
    """d⟨upstream, cell(inputs, code(α))⟩/dα, the code drawn with fixed Gumbel noise."""
    with tf.GradientTape() as tape:
        tape.watch(logits)
        codes = ensemble_gumbel_softmax(logits, 3, 1.0, noise=noise)
        output = cell(inputs, codes, training=True, probe_weights=probe_weights)
        loss = tf.reduce_sum(output * upstream)
    return tape.gradient(loss, logits), codes


def test_sparse_alpha_gradient_is_an_unbiased_estimate_of_dense():
    """Over the probes, sparse execution's mean α-gradient equals dense's (z-test per entry,
    400 draws at probe rate 0.3); `sparse_biased` misses the inactive entries' share."""
    cells = {mode: EGSCell(4, 5, execution=mode) for mode in EXECUTION_MODES}
    inputs = [tf.random.stateless_normal([4, 8, 8, 4], seed=[0, i]) for i in range(2)]
    logits = tf.random.stateless_normal([5, 8], seed=[1, 1])
    noise = gumbel_noise([3, 5, 8], seed=2)
    upstream = tf.random.stateless_normal([4, 8, 8, 8], seed=[2, 2])
    for cell in cells.values():
        cell(inputs, tf.ones([5, 8]))
        cell.set_weights(cells["dense"].get_weights())
    selector = EnsembleGumbelSoftmax(3, logits_shape=(5, 8), seed=4)
    rate = 0.3

    @tf.function
    def gradient(mode, step):
        if mode == "dense":
            return _alpha_gradient(cells["dense"], inputs, logits, noise, upstream)[0]
        code = ensemble_gumbel_softmax(logits, 3, 1.0, noise=noise)
        weights = execution_modes.probe_weights(selector.probe_mask(rate, step), code, rate)
        return _alpha_gradient(cells[mode], inputs, logits, noise, upstream,
                               weights if mode == "sparse" else None)[0]

    dense = gradient("dense", 0).numpy()
    draws = np.stack([gradient("sparse", tf.constant(s, tf.int64)).numpy()
                      for s in range(400)])
    mean, error = draws.mean(0), draws.std(0, ddof=1) / np.sqrt(len(draws)) + 1e-7
    z = (mean - dense) / error
    assert np.abs(z).max() < 4.5, z
    assert np.abs(mean - dense).max() < 0.25 * np.abs(dense).max()
    biased = gradient("sparse_biased", 0).numpy()
    assert np.abs(biased - dense).max() > 10 * error.max()  # what the probes correct
    # With probes at rate 1 every entry is computed: exactly dense's gradient.
    code = ensemble_gumbel_softmax(logits, 3, 1.0, noise=noise)
    every = execution_modes.probe_weights(tf.ones([5, 8], tf.bool), code, 1.0)
    np.testing.assert_allclose(
        _alpha_gradient(cells["sparse"], inputs, logits, noise, upstream, every)[0], dense,
        rtol=1e-3, atol=1e-5)
