import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from egs_keras import search_space
from egs_keras.layers import GenotypeCell
from egs_keras.layers.genotype_cell import drop_path

DARTS_V2 = search_space.published_genotype("darts_v2")


@pytest.mark.parametrize("reduction, reduction_prev, size", [
    (False, False, 8), (True, False, 8), (False, True, 7), (True, True, 7)])
def test_shapes_follow_reductions_and_concat(reduction, reduction_prev, size):
    cell_genotype = DARTS_V2.cells["reduce" if reduction else "normal"].to_dict()
    cell = GenotypeCell(6, cell_genotype["nodes"], cell_genotype["concat"], reduction,
                        reduction_prev)
    s0_size = 2 * size if reduction_prev else size
    s0, s1 = tf.zeros([2, s0_size, s0_size, 5]), tf.zeros([2, size, size, 7])
    y = cell([s0, s1], training=True)
    expected = -(-size // 2) if reduction else size
    assert y.shape == (2, expected, expected, 6 * len(cell_genotype["concat"]))
    assert tuple(y.shape) == cell.compute_output_shape([s0.shape, s1.shape])


def test_several_operations_on_one_edge_are_summed():
    """An EGS genotype may switch on several operations on one edge: node = their sum."""
    cell = GenotypeCell(4, [[["skip_connect", 1], ["max_pool_3x3", 1]]], [2])
    x = tf.random.stateless_normal([2, 6, 6, 4], seed=[0, 1])
    y = cell([x, x], training=False)
    s1 = cell.preprocess1(x, training=False)
    np.testing.assert_allclose(y, s1 + tf.nn.max_pool2d(s1, 3, 1, "SAME"), rtol=1e-5, atol=1e-5)


def test_drop_path_drops_whole_examples_at_the_rate_and_keeps_the_mean():
    rate, n = 0.3, 4000
    y = drop_path(tf.ones([n, 3, 3, 2]), rate, seed=7).numpy()
    per_example = y.reshape(n, -1)
    assert np.all((per_example == 0).all(axis=1) | np.isclose(per_example, 1 / (1 - rate)).all(
        axis=1))  # all of an example or nothing
    dropped = int((per_example[:, 0] == 0).sum())
    assert stats.binomtest(dropped, n, rate).pvalue > 1e-3
    assert abs(y.mean() - 1.0) < 0.05


def test_drop_path_runs_in_training_only_and_spares_identities():
    cell = GenotypeCell(4, [[["skip_connect", 1], ["sep_conv_3x3", 0]]], [2])
    x = tf.random.stateless_normal([64, 6, 6, 4], seed=[0, 2])
    cell([x, x])
    inference = cell([x, x], training=False, drop_rate=0.9)
    np.testing.assert_allclose(inference, cell([x, x], training=False), rtol=1e-6)
    trained = cell([x, x], training=True, drop_rate=0.9).numpy()
    s1 = cell.preprocess1(x, training=True).numpy()
    # With the convolution dropped, the node is exactly the identity path (never dropped).
    matches_identity = np.isclose(trained, s1, atol=1e-5).reshape(64, -1).all(axis=1)
    assert 30 < matches_identity.sum() < 64


def test_config_round_trip_and_bad_arguments():
    cell = GenotypeCell(4, [[["sep_conv_3x3", 0], ["skip_connect", 1]]], [2], reduction=True,
                        seed=3)
    clone = GenotypeCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    with pytest.raises(ValueError, match="unknown_op"):
        GenotypeCell(4, [[["unknown_op", 0]]], [2])
    with pytest.raises(ValueError, match=r"nodes\[0\]"):
        GenotypeCell(4, [[["skip_connect", 2]]], [2])  # a node reading itself
    with pytest.raises(ValueError, match="concat"):
        GenotypeCell(4, [[["skip_connect", 0]]], [5])

