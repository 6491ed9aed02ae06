"""`HighwayCell`: what the searched and the fixed recurrent cells share (DARTS / ENAS cells).

Both cells start from the node s₀ = h + c ⊙ (tanh(g) − h) with [c̃, g] = [x, h]·W₀ and
c = σ(c̃), and every later edge i → j applies a highway bypass with an activation f:
s_i + c ⊙ (f(g) − s_i), [c̃, g] = s_i·W_j. The cell's output (and new state) is the mean of its
output nodes. Subclasses decide which edges and activations exist.

Dropout follows AWD-LSTM / DARTS: `dropout` drops input features and `recurrent_dropout` drops
state features (before every matrix product that reads a state), with one variational mask
per sequence that every time step reuses (Keras' `DropoutRNNCell` caches them).
"""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space

# Not exported by Keras 3, but `keras.layers.RNN` recognises cells by this class: it creates
# their dropout masks before the time loop and calls `reset_dropout_mask` after it.
from egs_keras._compat import DropoutRNNCell


def _identity(x):
    return x


ACTIVATIONS = {"tanh": tf.tanh, "relu": tf.nn.relu, "sigmoid": tf.sigmoid, "identity": _identity}


def check_activation_names(names, allow_none=True, name="primitives"):
    """Returns `names` as a tuple if every one is a known activation (or `none`)."""
    known = ([search_space.NONE] if allow_none else []) + sorted(ACTIVATIONS)
    names = tuple(names) if isinstance(names, (list, tuple)) else (names,)
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise _validation.invalid(name, f"names from {known}", list(names))
    return names


class HighwayCell(keras.layers.Layer, DropoutRNNCell):
    """Base of `EGSRNNCell` and `GenotypeRNNCell` (not a cell by itself).

    Args:
        units: size of the hidden state and of every node.
        dropout: rate of the variational mask on the inputs x (DARTS `dropoutx`).
        recurrent_dropout: rate of the variational mask on states (DARTS `dropouth`).
        kernel_initializer: initializer of the node matrices (DARTS: uniform ±0.04).
        seed: seed of the dropout masks.
    """

    def __init__(self, units, dropout=0.0, recurrent_dropout=0.0,
                 kernel_initializer=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _validation.check_positive_int("units", units)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomUniform(-0.04, 0.04, seed=seed))
        self.seed = seed
        self.state_size = self.units
        self.output_size = self.units

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                      seed=self.seed)
        return config

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"Received inputs of shape {tuple(input_shape)}, expected a known "
                             "number of features in the last dimension.")
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="dropout_seed")
        self.input_kernel = self.add_weight(
            name="input_kernel", shape=(input_shape[-1] + self.units, 2 * self.units),
            initializer=self.kernel_initializer)
        # One variable per node: slicing one stacked variable inside the time loop would
        # copy a node's matrix at every step and make its gradient the size of all of them.
        self.node_kernels = [
            self.add_weight(name=f"node_{j}_kernel", shape=(self.units, 2 * self.units),
                            initializer=self.kernel_initializer)
            for j in range(self.num_kernels)]

    def get_initial_state(self, batch_size=None):
        return [tf.zeros([batch_size, self.units], self.compute_dtype)]

    def first_node(self, inputs, state, training):
        """s₀ = h + σ(c̃) ⊙ (tanh(g) − h), [c̃, g] = [x ⊙ mask_x, h ⊙ mask_h]·W₀."""
        x, h = inputs, state
        if training and self.dropout > 0:
            x = x * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            h = h * self.get_recurrent_dropout_mask(state)
        gate, candidate = tf.split(tf.matmul(tf.concat([x, h], -1), self.input_kernel), 2, -1)
        return state + tf.sigmoid(gate) * (tf.tanh(candidate) - state)

    def gates(self, sources, node, training):
        """σ(c̃) and g of node `node` for stacked sources `[n, batch, units]` (one product)."""
        if training and self.recurrent_dropout > 0:
            sources = sources * self.get_recurrent_dropout_mask(sources[0])
        shape, units = tf.shape(sources), self.units
        flat = tf.matmul(tf.reshape(sources, [-1, units]), self.node_kernels[node])
        gate, candidate = tf.split(tf.reshape(flat, [shape[0], shape[1], 2 * units]), 2, -1)
        return tf.sigmoid(gate), candidate

    def compute_output_shape(self, input_shape, states_shape=None):
        return (input_shape[0], self.units)


def check_rate(name, value):
    rate = _validation.check_unit_interval(name, value)
    if rate >= 1.0:
        raise _validation.invalid(name, "a rate in [0, 1)", value)
    return rate
