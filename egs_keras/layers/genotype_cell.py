"""`GenotypeCell`: a fixed cell built from a searched genotype, for evaluation networks."""

import functools
import operator

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras.layers import operations


@keras.saving.register_keras_serializable(package="egs_keras")
class GenotypeCell(keras.layers.Layer):
    """The cell a genotype describes: each node sums its (operation, input) pairs.

    Any number of pairs per node is allowed, several on the same input (EGS genotypes switch
    several operations on per edge). The two inputs are preprocessed as in the search cell (a
    ReLU-1×1 conv-BN, or a factorized reduce after a reduction); in a reduction cell the
    operations reading an input node have stride 2. The output concatenates the `concat` nodes.

    Drop-path (DARTS' regulariser): in training each operation's output except identities is
    zeroed per example with probability `drop_rate` and the survivors scaled by 1/(1 − rate).

    Args:
        filters: channels of every node.
        nodes: per intermediate node, a list of `[operation name, input index]` pairs; input 0
            and 1 are the cell's inputs, node `2 + j` is intermediate node j.
        concat: indices of the nodes whose outputs are concatenated.
        reduction: whether this cell halves the resolution.
        reduction_prev: whether the previous cell did.
        seed: seed of the drop-path masks (their generator's state is saved with the
            weights, so a resumed run continues the same random sequence).

    Call arguments:
        inputs: `[s0, s1]`, the outputs of the two previous cells.
        training: dropout of paths and batch-norm mode.
        drop_rate: drop-path probability (a float or a scalar tensor) used in training, or None
            for no drop-path.

    Example:

    >>> genotype = egs_keras.search_space.published_genotype("darts_v2")
    >>> normal = genotype.cells["normal"]
    >>> cell = GenotypeCell(8, normal.to_dict()["nodes"], normal.concat)
    >>> s = tf.zeros([2, 16, 16, 8])
    >>> cell([s, s]).shape
    TensorShape([2, 16, 16, 32])
    """

    def __init__(self, filters, nodes, concat, reduction=False, reduction_prev=False, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = _validation.check_positive_int("filters", filters)
        self.nodes = _check_nodes(nodes)
        num_nodes = 2 + len(self.nodes)
        self.concat = [int(c) for c in concat]
        if not self.concat or any(not 0 <= c < num_nodes for c in self.concat):
            raise _validation.invalid(
                "concat", f"a non-empty list of node indices in [0, {num_nodes - 1}]", concat)
        self.reduction = bool(reduction)
        self.reduction_prev = bool(reduction_prev)
        self.seed = seed

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, nodes=self.nodes, concat=self.concat,
                      reduction=self.reduction, reduction_prev=self.reduction_prev,
                      seed=self.seed)
        return config

    def build(self, inputs_shape):
        # Created here, inside the cell's name scope, so its state has a unique path.
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="drop_path_seed")
        shape0, shape1 = (tuple(s) for s in inputs_shape)
        if self.reduction_prev:
            self.preprocess0 = operations.FactorizedReduce(self.filters, 2, name="preprocess0")
        else:
            self.preprocess0 = operations.ReLUConvBN(self.filters, 1, name="preprocess0")
        self.preprocess1 = operations.ReLUConvBN(self.filters, 1, name="preprocess1")
        self.preprocess0.build(shape0)
        self.preprocess1.build(shape1)
        node_shape = self.preprocess1.compute_output_shape(shape1)
        self.node_ops = []
        for j, node in enumerate(self.nodes):
            ops = []
            for p, (name, source) in enumerate(node):
                stride = 2 if self.reduction and source < 2 else 1
                op = operations.get_operation(name, self.filters, stride,
                                              layer_name=f"node{j + 2}_{p}_{name}")
                op.build(node_shape)
                ops.append(op)
            self.node_ops.append(ops)

    def call(self, inputs, training=None, drop_rate=None):
        states = [self.preprocess0(inputs[0], training=training),
                  self.preprocess1(inputs[1], training=training)]
        for node, ops in zip(self.nodes, self.node_ops, strict=True):
            terms = []
            for (_, source), op in zip(node, ops, strict=True):
                y = op(states[source], training=training)
                if training and drop_rate is not None and not isinstance(op, operations.Identity):
                    y = drop_path(y, drop_rate, self.seed_generator)
                terms.append(y)
            # Pairwise adds, not tf.add_n: LiteRT has no integer ADD_N (an int8 file would
            # leave the sum in float between a dequantize and a quantize).
            states.append(functools.reduce(operator.add, terms) if terms
                          else self._zeros(states[0]))
        return tf.concat([states[c] for c in self.concat], axis=-1)

    def _zeros(self, state):
        return tf.zeros_like(state[:, ::2, ::2] if self.reduction else state)

    def compute_output_shape(self, inputs_shape):
        shape1 = tuple(inputs_shape[1])
        stride = 2 if self.reduction else 1
        spatial = [None if d is None else -(-d // stride) for d in shape1[1:3]]
        return (shape1[0], *spatial, len(self.concat) * self.filters)


def drop_path(x, rate, seed=None):
    """Zeroes whole examples of `x` with probability `rate` (< 1) and scales the rest by
    1/(1 − rate). `seed`: an int or a `keras.random.SeedGenerator`.

    >>> drop_path(tf.ones([4, 2]), 0.0).numpy().tolist()
    [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    """
    keep = 1.0 - tf.cast(rate, tf.float32)
    shape = [tf.shape(x)[0]] + [1] * (x.shape.rank - 1)
    mask = tf.cast(keras.random.uniform(shape, seed=seed) < keep, tf.float32)
    return x * tf.cast(mask / keep, x.dtype)


def _check_nodes(nodes):
    checked = []
    for j, node in enumerate(nodes):
        pairs = []
        for pair in node:
            if len(pair) != 2 or not isinstance(pair[0], str):
                raise _validation.invalid(
                    f"nodes[{j}]", "[operation name, input index] pairs", node)
            name, source = pair[0], int(pair[1])
            if not 0 <= source < 2 + j:
                raise _validation.invalid(
                    f"nodes[{j}]", f"input indices in [0, {1 + j}] (earlier nodes only)", node)
            operations.check_operation_names([name])
            pairs.append([name, source])
        checked.append(pairs)
    if not checked:
        raise _validation.invalid("nodes", "at least one intermediate node", nodes)
    return checked
