import numpy as np
import pytest
import tensorflow as tf

from egs_keras.layers.egs_cell import EGSCell


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
