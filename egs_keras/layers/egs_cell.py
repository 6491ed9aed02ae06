"""`EGSCell`: a searched DAG cell whose every edge is an `EGSMixedOp`."""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.layers import candidate_operation
from egs_keras.layers import operations
from egs_keras.layers.egs_mixed_op import EGSMixedOp
from egs_keras.ops import gating


@keras.saving.register_keras_serializable(package="egs_keras")
class EGSCell(keras.layers.Layer):
    """A DAG cell: 2 input nodes, `num_nodes − 3` intermediate nodes, output = concatenation.

    Node j sums `EGSMixedOp`s over all earlier nodes i < j, so every feed-forward DAG with any
    number of operations per edge is in the search space. The inputs (outputs of the two
    previous cells) are first brought to `filters` channels: a ReLU-1×1 conv-BN, or a
    factorized reduce for the older input when the previous cell was a reduction. In a
    reduction cell the edges leaving the input nodes have stride 2.

    The cell owns no architecture logits: it takes the codes of its cell type, so all cells of
    one type share α (the search network owns one `EnsembleGumbelSoftmax` per type).

    The kernels of the edges' operations are stacked: one variable per operation and kernel
    holds that kernel for every edge (e.g. `4_sep_conv_3x3_depthwise_0` of shape
    `[num_edges, 3, 3, filters, 1]`), read once per step and split among the edges. A DARTS
    cell has 12 such variables instead of 168, which makes the training graph less than
    half as large (optimizer updates, reads and captures are per variable): tracing, graph
    set-up and memory follow. Each edge's kernels are initialised as before (He normal,
    fan-in of one kernel). Operations without a functional form keep their own weights.

    Args:
        filters: channels of every node (the output has `(num_nodes − 3) · filters`).
        num_nodes: all nodes, as the paper counts them: 2 inputs + intermediate + 1 output
            (paper: 7, i.e. 4 intermediate nodes and 14 edges). At least 4.
        reduction: whether this cell halves the resolution.
        reduction_prev: whether the previous cell did (then input 0 is twice as large).
        primitives: candidate operation names.
        execution: "dense", "sparse" or "sparse_biased" (see `EGSMixedOp`).
        renormalize: see `EGSMixedOp`.

    Call arguments:
        inputs: `[s0, s1]`, the outputs of the two previous cells.
        codes: `[num_edges, K]` codes, edges ordered as `search_space.edges`.
        training: passed to the batch norms.
        probe_weights: `[num_edges, K]`, with sparse execution: the inactive operations to
            compute anyway and their gradient weights (see `EGSMixedOp`).

    Example:

    >>> cell = EGSCell(filters=8, num_nodes=5)          # 2 intermediate nodes, 5 edges
    >>> s = tf.zeros([2, 16, 16, 8])
    >>> cell([s, s], tf.ones([5, 8])).shape
    TensorShape([2, 16, 16, 16])
    """

    def __init__(self, filters, num_nodes=7, reduction=False, reduction_prev=False,
                 primitives=search_space.CNN_PRIMITIVES, execution="dense", renormalize=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = _validation.check_positive_int("filters", filters)
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 4:
            raise _validation.invalid(
                "num_nodes", "an integer >= 4 (2 inputs, at least 1 intermediate node, 1 output)",
                num_nodes)
        self.num_nodes = num_nodes
        self.reduction = bool(reduction)
        self.reduction_prev = bool(reduction_prev)
        self.primitives = operations.check_operation_names(primitives)
        self.execution = execution
        self.renormalize = bool(renormalize)
        self.edges = search_space.edges(self.num_intermediate)
        self.edge_ops = [
            EGSMixedOp(filters, 2 if self.reduction and i < 2 else 1, self.primitives, execution,
                       renormalize, own_kernels=False, name=f"edge_{i}_{j}")
            for i, j in self.edges
        ]
        self.supports_jit = execution == "dense"

    @property
    def num_intermediate(self):
        return self.num_nodes - 3

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, num_nodes=self.num_nodes, reduction=self.reduction,
                      reduction_prev=self.reduction_prev, primitives=list(self.primitives),
                      execution=self.execution, renormalize=self.renormalize)
        return config

    def build(self, inputs_shape, codes_shape=None):
        shape0, shape1 = (tuple(s) for s in inputs_shape)
        if self.reduction_prev and None not in (shape0[1], shape1[1]):
            if -(-shape0[1] // 2) != shape1[1]:
                raise ValueError(
                    f"Received inputs of shapes {shape0} and {shape1}, expected the first to "
                    "have twice the resolution of the second because `reduction_prev=True`.")
        options = operations.search_options(True)
        if self.reduction_prev:
            self.preprocess0 = operations.FactorizedReduce(self.filters, 2, name="preprocess0",
                                                           **options)
        else:
            self.preprocess0 = operations.ReLUConvBN(self.filters, 1, name="preprocess0",
                                                     **options)
        self.preprocess1 = operations.ReLUConvBN(self.filters, 1, name="preprocess1", **options)
        self.preprocess0.build(shape0)
        self.preprocess1.build(shape1)
        node_shape = self.preprocess1.compute_output_shape(shape1)
        stacks = {}  # (k, kernel name) → [(edge index, shape)]
        for e, edge in enumerate(self.edge_ops):
            edge.build(node_shape)
            for k, shapes in edge.kernel_shapes().items():
                for name, shape in shapes.items():
                    stacks.setdefault((k, name), []).append((e, tuple(shape)))
        self.stacked_kernels = []  # (k, kernel name, edge indices, variable)
        for (k, name), members in stacks.items():
            shapes = {shape for _, shape in members}
            if len(shapes) != 1:
                raise ValueError(f"Operation {self.primitives[k]!r} has kernel {name!r} of "
                                 f"different shapes {sorted(shapes)} on the edges of one cell.")
            variable = self.add_weight(
                name=f"{k}_{self.primitives[k]}_{name}", shape=(len(members), *shapes.pop()),
                initializer=candidate_operation.stacked_kernel_initializer, trainable=True)
            self.stacked_kernels.append((k, name, [e for e, _ in members], variable))

    def call(self, inputs, codes, training=None, probe_weights=None):
        expected = (len(self.edges), len(self.primitives))
        if tuple(codes.shape) != expected:
            raise ValueError(
                f"Received codes of shape {tuple(codes.shape)}, expected {list(expected)}: one "
                f"code over {expected[1]} primitives for each of the cell's {expected[0]} edges.")
        states = [self.preprocess0(inputs[0], training=training),
                  self.preprocess1(inputs[1], training=training)]
        with gating.near(codes):
            rows = tf.unstack(codes, num=len(self.edges))
            probes = ([None] * len(self.edges) if probe_weights is None
                      else tf.unstack(probe_weights, num=len(self.edges)))
        kernels = self._edge_kernels()
        edge = 0
        for _ in range(self.num_intermediate):
            terms = []
            for state in states:
                terms.append(self.edge_ops[edge](state, rows[edge], training=training,
                                                 kernels=kernels[edge],
                                                 probe_weights=probes[edge]))
                edge += 1
            states.append(tf.add_n(terms))
        return tf.concat(states[2:], axis=-1)

    def stacked_weights(self):
        """The variables holding the edges' kernels, `[edges with the operation, *shape]`."""
        return [variable for _, _, _, variable in self.stacked_kernels]

    def _edge_kernels(self):
        """[{k: {kernel name: tensor}} per edge]: the stacked kernels read and split."""
        kernels = [{} for _ in self.edges]
        for k, name, edges, variable in self.stacked_kernels:
            for e, kernel in zip(edges, tf.unstack(variable, num=len(edges)), strict=True):
                kernels[e].setdefault(k, {})[name] = kernel
        return kernels

    def compute_output_shape(self, inputs_shape, codes_shape=None):
        shape1 = tuple(inputs_shape[1])
        stride = 2 if self.reduction else 1
        spatial = [None if d is None else -(-d // stride) for d in shape1[1:3]]
        return (shape1[0], *spatial, self.num_intermediate * self.filters)
