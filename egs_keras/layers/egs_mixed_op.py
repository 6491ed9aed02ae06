"""`EGSMixedOp`: one edge of a searched cell, its candidate operations combined by an EGS code."""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.layers import candidate_operation
from egs_keras.layers import execution_modes
from egs_keras.layers import operations
from egs_keras.ops import gating


@keras.saving.register_keras_serializable(package="egs_keras")
class EGSMixedOp(keras.layers.Layer):
    """Σ_k a_k · o_k(x): the candidate operations of an edge, weighted by its binary code a.

    Execution modes:

    * `"dense"` computes all K operations and masks them. The straight-through gradient
      reaches every code entry a_k as ⟨upstream, o_k(x)⟩, hence every logit exactly.
    * `"sparse"` runs the operations whose bit is on (at most M of K) and the inactive ones
      the caller probes (`probe_weights`; `EGSCell` passes what `EGSSearchNetwork` draws:
      each inactive operation with probability `probe_rate`). A probed operation adds
      0 · o_k(x) to the output and its entry's gradient ⟨upstream, o_k(x)⟩ weighs
      1 / probe_rate, so the α-gradient is an unbiased estimate of dense execution's at a
      fraction of its cost. In a compiled step each operation's input and variables pass
      through a `gating.gate` on its bit: when the bit is off, none of its ops run, forward
      or backward (no `tf.cond`: tracing and the first step take about as long as dense).
      Eagerly, Python skips the inactive operations. Operations with non-trainable state
      (e.g. batch-norm statistics) always run; others must not create stateful ops
      (asserts, prints, stateful random numbers), else tracing raises a ValueError. Not for
      XLA (`jit_compile=True`); Keras then compiles without XLA and warns.
    * `"sparse_biased"` runs only the active operations, never probes (and `"sparse"`
      without `probe_weights` computes the same): an inactive entry gets no gradient, the
      logits only through the soft values of the active entries (as GDAS does for M = 1).
      The bias favours whatever the prior switches on often: an operation seldom drawn is
      seldom computed and never gets evidence (measured in docs/recipe.md).

    `none` is never computed: its bit contributes nothing. Each operation's code entry is
    folded into the scale of its last batch norm (`candidate_operation.scaled_call`).

    Args:
        filters: channels of the input and the output.
        stride: 1, or 2 for edges that reduce the resolution.
        primitives: candidate operation names (registered in `operations`); default DARTS'
            eight.
        execution: "dense", "sparse" or "sparse_biased" (see above).
        renormalize: if True, divide the sum by the number of active operations (constant in
            the backward pass), so the edge's output scale does not grow with M.
        own_kernels: if False, the built-in operations create no kernels (convolution
            weights) of their own and `call` takes them as `kernels`: `EGSCell` keeps the
            kernels of all its edges in one variable per operation and kernel, which makes
            the training graph of a search network far smaller (faster to start, less memory).
            `kernel_shapes` says what to pass. Other operations keep their weights.

    Call arguments:
        inputs: `[batch, H, W, filters]`.
        code: `[K]` code of this edge (from `EnsembleGumbelSoftmax`).
        training: passed to the operations' batch norms.
        kernels: with `own_kernels=False`, {k: {kernel name: tensor}} for every operation
            listed by `kernel_shapes`.
        probe_weights: `[K]`, with sparse execution: 1 / probe_rate for the inactive
            operations to compute anyway, 0 for the others (`execution_modes.probe_weights`).

    Example:

    >>> edge = EGSMixedOp(filters=16, execution="sparse")
    >>> code = tf.constant([0., 0., 0., 1., 1., 0., 0., 0.])   # skip + sep_conv_3x3
    >>> edge(tf.zeros([2, 8, 8, 16]), code).shape
    TensorShape([2, 8, 8, 16])
    """

    def __init__(self, filters, stride=1, primitives=search_space.CNN_PRIMITIVES,
                 execution="dense", renormalize=False, own_kernels=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = _validation.check_positive_int("filters", filters)
        if stride not in (1, 2):
            raise _validation.invalid("stride", "1 or 2", stride)
        self.stride = stride
        self.primitives = operations.check_operation_names(primitives)
        self.execution = execution_modes.check_execution(execution)
        self.renormalize = bool(renormalize)
        self.own_kernels = bool(own_kernels)
        self.supports_jit = execution == "dense"

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, stride=self.stride, primitives=list(self.primitives),
                      execution=self.execution, renormalize=self.renormalize,
                      own_kernels=self.own_kernels)
        return config

    def build(self, inputs_shape, code_shape=None):
        input_shape = inputs_shape
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"Received inputs with {input_shape[-1]} channels, expected `filters` = "
                f"{self.filters} channels (shape {tuple(input_shape)}). Preprocess the input "
                "to `filters` channels, or construct the edge with matching `filters`."
            )
        self.candidates = {}
        self._kernel_shapes = {}
        for k, name in enumerate(self.primitives):
            if name == search_space.NONE:
                continue
            op = operations.get_operation(name, self.filters, self.stride, search=True,
                                          layer_name=f"{k}_{name}",
                                          own_kernels=self.own_kernels)
            op.build(input_shape)
            self.candidates[k] = op
            if not op.own_kernels and op.kernel_shapes(input_shape):
                self._kernel_shapes[k] = op.kernel_shapes(input_shape)

    def kernel_shapes(self):
        """{k: {kernel name: shape}}: the kernels `call` takes (only with `own_kernels=False`;
        built layers only)."""
        return self._kernel_shapes

    def has_weights(self, k):
        """Whether candidate k has weights (its own or given as `kernels`)."""
        return k in self._kernel_shapes or bool(self.candidates[k].trainable_weights)

    def call(self, inputs, code, training=None, kernels=None, probe_weights=None):
        with gating.near(code):
            code = tf.cast(code, inputs.dtype)
        num_ops = len(self.primitives)
        if code.shape.rank != 1 or code.shape[0] != num_ops:
            raise ValueError(
                f"Received a code of shape {code.shape}, expected [{num_ops}] (one entry per "
                f"primitive {list(self.primitives)})."
            )
        kernels = kernels or {}
        missing = sorted(set(self._kernel_shapes) - set(kernels))
        if missing:
            raise ValueError(
                f"Received no kernels for operations {missing} of edge {self.name!r}, which "
                "was built with own_kernels=False; expected `kernels` = {k: {name: tensor}} "
                f"of shapes {self._kernel_shapes}.")
        if self.execution == "dense":
            entries = tf.unstack(code, num=num_ops)
            terms = [candidate_operation.scaled_call(op, inputs, entries[k], training,
                                                     kernels.get(k))
                     for k, op in self.candidates.items()]
            output = tf.add_n(terms) if terms else self._zeros(inputs)
        else:
            if self.execution == "sparse_biased":
                probe_weights = None
            output = execution_modes.sparse_weighted_sum(inputs, code, self.candidates,
                                                self._zeros(inputs), training, kernels,
                                                probe_weights)
        if self.renormalize:
            active = tf.gather(code, list(self.candidates)) if self.candidates else code[:0]
            output = output / tf.maximum(tf.stop_gradient(tf.reduce_sum(active)), 1.0)
        return tf.ensure_shape(output, self.compute_output_shape(inputs.shape))

    def _zeros(self, inputs):
        if self.stride == 1:
            return tf.zeros_like(inputs)
        return tf.zeros_like(inputs[:, ::2, ::2])

    def compute_output_shape(self, input_shape, code_shape=None):
        spatial = [None if d is None else -(-d // self.stride) for d in input_shape[1:3]]
        return (input_shape[0], *spatial, self.filters)

