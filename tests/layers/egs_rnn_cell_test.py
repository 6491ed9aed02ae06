import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.layers import EGSRNNCell


def _layer(execution="dense", num_samples=2, seed=3, **kwargs):
    cell = EGSRNNCell(units=8, num_nodes=7, num_samples=num_samples, seed=seed,
                      execution=execution, **kwargs)
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer.build((4, 6, 5))
    return cell, layer


INPUTS = tf.random.stateless_normal([4, 6, 5], seed=[1, 2])


def test_one_code_per_sequence_in_keras_rnn_eager_and_compiled():
    cell, layer = _layer()
    outputs = layer(INPUTS, training=True)
    assert int(cell.decision.sample_count) == 1
    # The same sequence stepped by hand with sample number 0 at every step: identical.
    cell.decision.sample_count.assign(0)
    state = tf.zeros([4, 8])
    for t in range(6):
        step, [state] = cell(INPUTS[:, t], [state], training=True)
        np.testing.assert_allclose(step, outputs[:, t], atol=1e-5)
    compiled = tf.function(lambda x: layer(x, training=True))
    cell.decision.sample_count.assign(5)
    compiled(INPUTS)
    compiled(INPUTS)
    assert int(cell.decision.sample_count) == 7


def test_successive_sequences_draw_different_architectures_reproducibly():
    cell, layer = _layer(num_samples=1)
    codes = [cell.decision.draw(step).numpy() for step in range(8)]
    assert len({c.tobytes() for c in codes}) > 1
    again, _ = _layer(num_samples=1)
    np.testing.assert_array_equal(again.decision.draw(3), codes[3])


@pytest.mark.parametrize("num_samples, execution",
                         [(1, "sparse"), (2, "sparse_biased"), (5, "sparse"), (7, "sparse")])
def test_sparse_and_dense_agree_forward_and_in_gradients(num_samples, execution):
    dense_cell, dense = _layer("dense", num_samples)
    sparse_cell, sparse = _layer(execution, num_samples)
    sparse.set_weights(dense.get_weights())
    for step in range(3):
        results = []
        for cell, layer in ((dense_cell, dense), (sparse_cell, sparse)):
            cell.decision.sample_count.assign(step)
            with tf.GradientTape() as tape:
                tape.watch(INPUTS)
                loss = tf.reduce_sum(tf.sin(layer(INPUTS, training=True)))
            results.append([loss, *tape.gradient(loss, [INPUTS, cell.node_kernels])])
        for a, b in zip(*results, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _logit_gradient(cell, layer, step):
    cell.decision.sample_count.assign(step)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.sin(3.0 * layer(INPUTS, training=True)))
    return tape.gradient(loss, cell.decision.logits).numpy()


def test_sparse_probes_give_the_edges_coded_none_their_dense_gradient():
    """M = 1 codes many edges `none` only. sparse_biased skips them and their α rows get no
    gradient from their own entries; sparse with every edge probed (rate 1) computes them at
    weight 0 and gives α exactly dense's gradient (lower rates weigh the probed ones by
    1 / rate: the estimate the CNN cells test statistically)."""
    cells = {mode: _layer(mode, num_samples=1, **({"probe_rate": 1.0} if mode == "sparse"
                                                   else {}))
             for mode in ("dense", "sparse", "sparse_biased")}
    for mode in ("sparse", "sparse_biased"):
        cells[mode][1].set_weights(cells["dense"][1].get_weights())
    differs = False
    for step in range(4):
        dense, probed, biased = (_logit_gradient(*cells[m], step)
                                 for m in ("dense", "sparse", "sparse_biased"))
        np.testing.assert_allclose(probed, dense, rtol=1e-4, atol=1e-6)
        differs |= not np.allclose(biased, dense, rtol=1e-4, atol=1e-6)
    assert differs  # some sequence coded an edge `none` only: biased misses its gradient


@pytest.mark.parametrize("execution", ["dense", "sparse", "sparse_biased"])
def test_every_edge_logit_receives_gradient_in_search_mode(execution):
    cell, layer = _layer(execution, num_samples=4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.sin(3.0 * layer(INPUTS, training=True)))
    gradient = tape.gradient(loss, cell.decision.logits).numpy()
    assert gradient.shape == (len(cell.edges), 5)
    assert np.all(np.abs(gradient).sum(axis=1) > 0)


def test_inference_uses_the_most_probable_code_deterministically():
    cell, layer = _layer()
    logits = np.full((len(cell.edges), 5), -3.0, "float32")
    logits[:, 2] = 3.0  # relu everywhere
    cell.decision.logits.assign(logits)
    first = layer(INPUTS, training=False)
    np.testing.assert_array_equal(first, layer(INPUTS, training=False))
    genotype = cell.genotype()
    assert genotype.kind == "rnn"
    assert all(op == "relu" for node in genotype.cells["recurrent"].nodes for op, _ in node)
    assert genotype.cells["recurrent"].concat == (1, 2, 3)


def test_config_round_trip_gives_the_same_cell():
    cell, layer = _layer(execution="sparse", dropout=0.1, recurrent_dropout=0.2)
    clone = EGSRNNCell.from_config(cell.get_config())
    clone_layer = keras.layers.RNN(clone, return_sequences=True)
    clone_layer.build((4, 6, 5))
    clone_layer.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone_layer(INPUTS), layer(INPUTS), atol=1e-6)
    assert clone.execution == "sparse" and clone.recurrent_dropout == 0.2


def test_variational_dropout_keeps_one_mask_per_sequence():
    cell, layer = _layer(dropout=0.5, recurrent_dropout=0.5, batch_norm=False)
    ones = tf.ones([4, 6, 5])
    layer(ones, training=True)
    # After the sequence the masks are cleared; inference ignores them.
    assert cell._dropout_mask is None
    np.testing.assert_array_equal(layer(ones, training=False), layer(ones, training=False))


@pytest.mark.parametrize("kwargs, message", [
    ({"num_nodes": 4}, "num_nodes"),
    ({"primitives": ("none", "tanh", "softplus")}, "softplus"),
    ({"num_samples": 0}, "`num_samples`, expected a positive integer"),
    ({"execution": "lazy"}, "sparse_biased"),
    ({"probe_rate": 1.5}, "probe_rate"),
    ({"dropout": 1.0}, "dropout"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EGSRNNCell(units=8, **kwargs)


def test_the_paper_cell_has_36_edges_over_five_operations():
    cell = EGSRNNCell(units=4)
    assert len(cell.edges) == 36 and cell.primitives == search_space.RNN_PRIMITIVES
    assert cell.decision.logits_shape == (36, 5)
