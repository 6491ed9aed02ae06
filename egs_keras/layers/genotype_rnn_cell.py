"""`GenotypeRNNCell`: the fixed recurrent cell a searched RNN genotype describes."""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras.layers import highway_cell


@keras.saving.register_keras_serializable(package="egs_keras")
class GenotypeRNNCell(highway_cell.HighwayCell):
    """The recurrent cell of a genotype, for evaluation language models.

    Node 0 is s₀ = h + σ(c̃) ⊙ (tanh(g) − h), [c̃, g] = [x, h]·W₀; node j ≥ 1 has its own matrix
    W_j and averages the highways s_i + c ⊙ (f(g) − s_i), [c̃, g] = s_i·W_j, of its
    (activation f, input i) pairs. With one pair per node (DARTS genotypes) this is the DARTS
    cell exactly; with several (EGS genotypes) the mean keeps the node's scale where the
    search normalised it with batch norm. The output and new state is the mean of the
    `concat` nodes.

    Args:
        units: hidden size (PTB evaluation: 850; WikiText-2: 700).
        nodes: per node after s₀, a list of `[activation, input index]` pairs, input 0 being
            s₀ (the `nodes` of a genotype's "recurrent" cell).
        concat: indices of the nodes averaged into the output.
        dropout, recurrent_dropout, kernel_initializer, seed: see `HighwayCell`.

    Example:

    >>> cell_genotype = egs_keras.search_space.published_genotype("darts_rnn_v2")
    >>> recurrent = cell_genotype.cells["recurrent"]
    >>> cell = GenotypeRNNCell(16, recurrent.to_dict()["nodes"], recurrent.concat)
    >>> keras.layers.RNN(cell)(tf.zeros([2, 5, 16])).shape
    TensorShape([2, 16])
    """

    def __init__(self, units, nodes, concat, dropout=0.0, recurrent_dropout=0.0,
                 kernel_initializer=None, seed=None, **kwargs):
        super().__init__(units, dropout, recurrent_dropout, kernel_initializer, seed, **kwargs)
        self.nodes = _check_nodes(nodes)
        self.concat = [int(c) for c in concat]
        if not self.concat or any(not 0 <= c <= len(self.nodes) for c in self.concat):
            raise _validation.invalid(
                "concat", f"a non-empty list of node indices in [0, {len(self.nodes)}]", concat)
        self._activations = [[highway_cell.ACTIVATIONS[op] for op, _ in node]
                             for node in self.nodes]

    @property
    def num_kernels(self):
        return len(self.nodes)

    def get_config(self):
        config = super().get_config()
        config.update(nodes=self.nodes, concat=self.concat)
        return config

    def call(self, inputs, states, training=None):
        state = states[0] if isinstance(states, (list, tuple)) else states
        values = [self.first_node(inputs, state, training)]
        for j, (node, activations) in enumerate(zip(self.nodes, self._activations, strict=True)):
            sources = sorted({i for _, i in node})
            gate, candidate = self.gates(tf.stack([values[i] for i in sources]), j, training)
            terms = []
            for (_, i), activation in zip(node, activations, strict=True):
                s, where = values[i], sources.index(i)
                terms.append(s + gate[where] * (activation(candidate[where]) - s))
            values.append(tf.add_n(terms) / float(len(terms)))
        output = tf.add_n([values[c] for c in self.concat]) / float(len(self.concat))
        return output, [output]


def _check_nodes(nodes):
    """[[activation, input], ...] per node, inputs earlier than the node, known activations."""
    try:
        parsed = [[[str(op), int(i)] for op, i in node] for node in nodes]
    except (TypeError, ValueError):
        raise _validation.invalid("nodes", "a list of [[activation, input index], ...] per node",
                                  nodes) from None
    for j, node in enumerate(parsed):
        if not node:
            raise _validation.invalid(f"nodes[{j}]", "at least one [activation, input] pair", node)
        for op, i in node:
            highway_cell.check_activation_names([op], allow_none=False, name=f"nodes[{j}]")
            if not 0 <= i <= j:
                raise _validation.invalid(f"nodes[{j}]", f"input indices in [0, {j}] (node "
                                          f"{j + 1} reads s₀ or earlier nodes)", node)
    return parsed
