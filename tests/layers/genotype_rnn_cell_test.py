import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.layers import GenotypeRNNCell

ACTIVATIONS = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
               "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "identity": lambda v: v}


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _reference_step(x, h, w0, kernels, nodes, concat):
    """The DARTS evaluation cell in NumPy (several pairs per node: their mean)."""
    gate, candidate = np.split(np.concatenate([x, h], -1) @ w0, 2, -1)
    values = [h + _sigmoid(gate) * (np.tanh(candidate) - h)]
    for kernel, node in zip(kernels, nodes, strict=True):
        terms = []
        for op, i in node:
            gate, candidate = np.split(values[i] @ kernel, 2, -1)
            terms.append(values[i] + _sigmoid(gate) * (ACTIVATIONS[op](candidate) - values[i]))
        values.append(np.mean(terms, axis=0))
    return np.mean([values[c] for c in concat], axis=0)


@pytest.mark.parametrize("nodes, concat", [
    (search_space.published_genotype("darts_rnn_v2").cells["recurrent"].to_dict()["nodes"],
     list(range(1, 9))),
    ([[["relu", 0], ["tanh", 0], ["sigmoid", 0]], [["identity", 0], ["tanh", 1]]], [1, 2]),
])
def test_a_sequence_matches_the_darts_cell_computed_by_hand(nodes, concat):
    cell = GenotypeRNNCell(6, nodes, concat, kernel_initializer="glorot_uniform", seed=0)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32")
    outputs = layer(x).numpy()
    h = np.zeros((3, 6), "float32")
    kernels = [k.numpy() for k in cell.node_kernels]
    for t in range(4):
        h = _reference_step(x[:, t], h, cell.input_kernel.numpy(), kernels, nodes, concat)
        np.testing.assert_allclose(outputs[:, t], h, atol=1e-5)


def test_dropout_applies_only_in_training_with_one_mask_per_sequence():
    cell = GenotypeRNNCell(6, [[["tanh", 0]]], [1], dropout=0.5, recurrent_dropout=0.5, seed=1)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = tf.ones([2, 5, 6])
    train_a, train_b = layer(x, training=True), layer(x, training=True)
    assert not np.allclose(train_a, train_b)          # a new mask per sequence
    np.testing.assert_array_equal(layer(x), layer(x))


@pytest.mark.parametrize("nodes, concat, message", [
    ([[["tanh", 1]]], [1], r"nodes\[0\]"),
    ([[["gelu", 0]]], [1], "gelu"),
    ([[]], [1], "at least one"),
    ([[["tanh", 0]]], [2], "concat"),
])
def test_bad_genotypes_are_named(nodes, concat, message):
    with pytest.raises(ValueError, match=message):
        GenotypeRNNCell(4, nodes, concat)


def test_config_round_trip():
    cell = GenotypeRNNCell(4, [[["tanh", 0]], [["relu", 0], ["sigmoid", 1]]], [1, 2],
                           dropout=0.2)
    clone = GenotypeRNNCell.from_config(cell.get_config())
    assert clone.nodes == cell.nodes and clone.concat == [1, 2] and clone.dropout == 0.2
