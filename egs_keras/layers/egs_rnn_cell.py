"""`EGSRNNCell`: the searched recurrent cell (DARTS' recurrent space, EGS codes on its edges)."""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.layers import execution_modes
from egs_keras.layers import highway_cell
from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
from egs_keras.ops import gating


@keras.saving.register_keras_serializable(package="egs_keras")
class EGSRNNCell(highway_cell.HighwayCell):
    """A recurrent search cell: a DAG over `num_nodes` nodes whose every edge carries an EGS code.

    Nodes, as DARTS counts them (paper: 12): the inputs x_t and h_{t−1}; the first node
    s₀ = h + σ(c̃) ⊙ (tanh(g) − h) with [c̃, g] = [x, h]·W₀ (the ENAS / DARTS highway form of
    "tanh(W_x·x + W_h·h)"); `num_nodes − 4` searched nodes; the output h_t, the mean of the
    searched nodes. Node j sums, over every earlier node i and every operation k switched on in
    the code a^(i,j), the highway s_i + c ⊙ (f_k(g) − s_i) with [c̃, g] = s_i·W_j (one matrix per
    node, shared by its incoming edges). With `renormalize` (the default) the node is the mean of
    those highways instead of their sum: a binary code may switch on several operations per
    edge (DARTS' softmax weights sum to 1), and a sum then grows the state at every time step
    until it overflows wherever batch norm uses its running statistics (inference); the mean
    is also what `GenotypeRNNCell` computes. Each node (s₀ included) is batch-normalised
    without affine parameters during the search, as in DARTS, always with the statistics of
    the current batch and time step (like the CNN search cells): running statistics would mix
    the many sampled architectures of training and fail the most probable one used in
    inference — the state then grows over time steps until it overflows. Evaluate a search
    cell on batches of several rows.

    The cell owns its architecture: an `EnsembleGumbelSoftmax` (`cell.decision`) with logits
    `[num_edges, K]`. In training one code is drawn per sequence and used at every time step:
    the noise is seeded by (seed, sequence counter, replica) and the counter advances after
    each sequence, through the `reset_dropout_mask` hook that `keras.layers.RNN` calls after
    every call. (Calling the cell step by step outside `keras.layers.RNN`: call
    `cell.reset_dropout_mask()` after each sequence.) In inference the cell uses the most
    probable code.

    Execution modes: "dense" computes every edge and activation and weights them by the code
    (exact straight-through gradient for every entry); "sparse_biased" runs the matrix
    product, the gate and the activations only for the edges with at least one operation
    switched on (the rest contribute nothing and their entries get no gradient; the logits
    still do, through the active entries); "sparse" also runs each of the other edges with
    probability `probe_rate` (contributing 0, its entries' gradients weighted by
    1 / probe_rate), so that the α-gradient is an unbiased estimate of dense's. Activations
    are cheap next to the products, so sparse modes save the products of the edges coded
    only `none` — few with the paper's M = 4 of 5 operations, about p_none^M of them.
    `none` takes no part in the cost prior (it keeps the uniform share 1/K of l).

    Args:
        units: hidden size (DARTS search: 300).
        num_nodes: nodes as the paper counts them (12: x, h, s₀, 8 searched, output); ≥ 5.
        primitives: operations on the edges: `none` and activations from `tanh`, `relu`,
            `sigmoid`, `identity`.
        num_samples: M ≥ 1 of the Ensemble Gumbel-Softmax (paper: 4; may exceed K).
        temperature, op_costs, effectiveness_weight, replica_sampling: see
            `EnsembleGumbelSoftmax`.
        execution: "dense", "sparse" or "sparse_biased".
        probe_rate: with "sparse", the chance that an edge without active operations is
            computed anyway in training.
        prior_strength: β of the cost prior (see `egs_keras.ops.cost_prior`).
        renormalize: average the active highways of a node (True) or sum them (False; the
            count is constant in the backward pass).
        batch_norm: normalise the nodes with batch statistics (search default, as DARTS).
        dropout, recurrent_dropout, kernel_initializer: see `HighwayCell` (variational masks).
        seed: seed of the logits' initialisation, the Gumbel noise and the dropout masks.

    Call arguments:
        inputs: `[batch, features]`, one time step.
        states: `[h]`, `[batch, units]`.
        training: draw codes, apply dropout, use batch statistics.

    Example:

    >>> cell = EGSRNNCell(units=16, num_nodes=6, num_samples=2, seed=0)
    >>> layer = keras.layers.RNN(cell, return_sequences=True)
    >>> layer(tf.zeros([4, 7, 8]), training=True).shape
    TensorShape([4, 7, 16])
    >>> cell.genotype().cells["recurrent"].num_inputs
    1

    Reference:
        Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019 (recurrent space);
        Chang et al., arXiv:1905.01786 (EGS).
    """

    def __init__(self, units, num_nodes=12, primitives=search_space.RNN_PRIMITIVES,
                 num_samples=4, temperature=1.0, op_costs=None, effectiveness_weight=0.5,
                 execution="dense", renormalize=True, batch_norm=True, dropout=0.0,
                 recurrent_dropout=0.0, kernel_initializer=None, seed=0,
                 replica_sampling="independent", prior_strength=1.0,
                 probe_rate=execution_modes.DEFAULT_PROBE_RATE, **kwargs):
        super().__init__(units, dropout, recurrent_dropout, kernel_initializer, seed, **kwargs)
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 5:
            raise _validation.invalid(
                "num_nodes", "an integer >= 5 (x, h, the first node, at least one searched "
                "node, the output)", num_nodes)
        self.num_nodes = num_nodes
        self.primitives = highway_cell.check_activation_names(primitives)
        self.num_samples = _validation.check_positive_int("num_samples", num_samples)
        self.execution = execution_modes.check_execution(execution)
        self.probe_rate = execution_modes.check_probe_rate(probe_rate)
        self.prior_strength = prior_strength
        self.renormalize = bool(renormalize)
        self.batch_norm = bool(batch_norm)
        self.temperature = temperature
        self.op_costs = op_costs
        self.effectiveness_weight = effectiveness_weight
        self.replica_sampling = replica_sampling
        self.edges = search_space.edges(self.num_intermediate, num_inputs=1)
        neutral = [k for k, name in enumerate(self.primitives) if name == search_space.NONE]
        self.decision = EnsembleGumbelSoftmax(
            self.num_samples, temperature, op_costs, effectiveness_weight,
            logits_shape=(len(self.edges), len(self.primitives)),
            logits_initializer=keras.initializers.RandomNormal(stddev=1e-3, seed=seed),
            seed=seed, replica_sampling=replica_sampling, prior_strength=prior_strength,
            neutral_ops=neutral or None, name="recurrent_alphas")
        active = [k for k, name in enumerate(self.primitives) if name != search_space.NONE]
        self._active_columns = active
        self._activations = [highway_cell.ACTIVATIONS[self.primitives[k]] for k in active]

    @property
    def num_intermediate(self):
        """The searched nodes (the paper's count minus x, h, s₀ and the output)."""
        return self.num_nodes - 4

    @property
    def num_kernels(self):
        return self.num_intermediate

    def get_config(self):
        config = super().get_config()
        config.update(num_nodes=self.num_nodes, primitives=list(self.primitives),
                      num_samples=self.num_samples, temperature=self.temperature,
                      op_costs=self.op_costs, effectiveness_weight=self.effectiveness_weight,
                      execution=self.execution, renormalize=self.renormalize,
                      batch_norm=self.batch_norm,
                      replica_sampling=self.replica_sampling, probe_rate=self.probe_rate,
                      prior_strength=self.prior_strength)
        return config

    def build(self, input_shape):
        super().build(input_shape)
        self.decision.build()

    def call(self, inputs, states, training=None):
        state = states[0] if isinstance(states, (list, tuple)) else states
        probes = None
        if training:
            step = self.decision.sample_count.value
            codes = self.decision.draw(step)
            if self.execution == "sparse":
                probes = self.decision.probe_mask(self.probe_rate, step, [len(self.edges)])
        else:
            codes = self.decision.inference_code()
        codes = tf.cast(codes, self.compute_dtype)
        nodes = [self._normalize(self.first_node(inputs, state, training))]
        offset = 0
        for j in range(self.num_intermediate):
            rows = codes[offset:offset + j + 1]
            edge_probes = None if probes is None else probes[offset:offset + j + 1]
            offset += j + 1
            node = self._node(tf.stack(nodes), rows, j, training, edge_probes)
            nodes.append(self._normalize(node))
        output = tf.add_n(nodes[1:]) / float(self.num_intermediate)
        return output, [output]

    def _node(self, sources, rows, j, training, probes=None):
        """Σ_i Σ_k a_ik (s_i + c_i ⊙ (f_k(g_i) − s_i)) over the sources `[n, batch, units]`;
        `probes` `[n]`: edges to compute even without active operations ("sparse")."""
        if self.execution != "dense":
            on = tf.reduce_sum(tf.gather(rows, self._active_columns, axis=1), axis=1) > 0
            if probes is not None:
                probed = tf.logical_and(probes, tf.logical_not(on))
                weight = tf.where(probed, 1.0 / self.probe_rate, 1.0)[:, tf.newaxis]
                rows = gating.weighted_gradient(rows, tf.cast(weight, rows.dtype))
                on = tf.logical_or(on, probed)
            index = tf.reshape(tf.where(on), [-1])
            sources, rows = tf.gather(sources, index), tf.gather(rows, index)
        gate, candidate = self.gates(sources, j, training)
        weights = tf.gather(rows, self._active_columns, axis=1)[:, :, tf.newaxis, tf.newaxis]
        activated = tf.stack([f(candidate) for f in self._activations], axis=1)
        # Σ_k a_k (s + c(f_k − s)) = n·s + c(Σ_k a_k f_k − n·s), n = Σ_k a_k: one pass per edge.
        count = tf.reduce_sum(weights, axis=1)
        mixed = tf.reduce_sum(weights * activated, axis=1)
        node = tf.reduce_sum(count * sources + gate * (mixed - count * sources), axis=0)
        if self.renormalize:
            node = node / tf.maximum(tf.stop_gradient(tf.reduce_sum(count)), 1.0)
        return node

    def _normalize(self, node):
        if not self.batch_norm:
            return node
        mean, variance = tf.nn.moments(node, axes=[0], keepdims=True)
        return (node - mean) * tf.math.rsqrt(variance + 1e-5)

    def reset_dropout_mask(self):
        """Clears the dropout masks and moves on to the next sequence's architecture sample."""
        super().reset_dropout_mask()
        self.decision.sample_count.assign_add(1)

    @property
    def arch_variables(self):
        """The architecture logits α `[num_edges, K]`."""
        return [self.decision.logits]

    def probabilities(self):
        """p of every edge, `[num_edges, K]`."""
        return self.decision.probabilities()

    def genotype(self, strategy="most_probable", seed=0, edges_per_node="auto"):
        """The derived recurrent genotype (see `search_space.derive_genotype`; by default one
        incoming edge per node, as DARTS' recurrent cell, ranked by α's own preference)."""
        return search_space.derive_genotype(
            {"recurrent": self.probabilities().numpy()}, self.num_samples, kind="rnn",
            primitives=self.primitives, strategy=strategy, seed=seed, num_inputs=1,
            edges_per_node=edges_per_node,
            preferences={"recurrent": self.decision.preferences().numpy()})
