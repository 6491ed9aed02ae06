"""`EGSMixedOp`: one edge of a searched cell, its candidate operations combined by an EGS code."""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.layers import operations

EXECUTION_MODES = ("dense", "sparse")


def _crop_ends(active, full, smallest):
    """End indices `[K, 4]` of each operation's crop from the origin: the `full` [H, W] where the
    operation is active, `smallest` [K] pixels per side where not (batch and channels: masked)."""
    ends = tf.where(active[:, tf.newaxis], full[tf.newaxis, :], smallest[:, tf.newaxis])
    return tf.pad(ends, [[0, 0], [1, 1]])


def _crop(images, end):
    """The top-left corner `images[:, :end[1], :end[2]]` (gradient: one `StridedSliceGrad`)."""
    return tf.strided_slice(images, _ORIGIN, end, _UNIT_STRIDES, begin_mask=15, end_mask=9)


def _uncrop(images, end, shape):
    """`images` placed in the top-left corner of zeros of `shape` (gradient: one slice)."""
    return tf.raw_ops.StridedSliceGrad(shape=shape, begin=_ORIGIN, end=end,
                                       strides=_UNIT_STRIDES, dy=images, begin_mask=15,
                                       end_mask=9)


_ORIGIN = (0, 0, 0, 0)
_UNIT_STRIDES = (1, 1, 1, 1)


@keras.saving.register_keras_serializable(package="egs_keras")
class EGSMixedOp(keras.layers.Layer):
    """Σ_k a_k · o_k(x): the candidate operations of an edge, weighted by its binary code a.

    Execution modes:

    * `"dense"` computes all K operations and masks them. The straight-through gradient
      reaches every code entry a_k as ⟨upstream, o_k(x)⟩, hence every logit exactly.
    * `"sparse"` runs only the operations with weights (the convolutions) whose bit is on,
      at most M of K. An inactive one runs on a corner crop of its input (1×1, or 2×2 for
      dilated convolutions; times the stride) — cheap, though each kernel call keeps a fixed
      cost, and without control flow, which starts far faster than one `tf.cond` per
      operation — and its zero-weighted output is padded back; its code entry gets no
      gradient. Weightless operations (pools, identity) cost less to run than to crop and
      always run. The logits still all receive gradient, through the soft values of the
      active entries (as GDAS does for M = 1). Crops have dynamic shapes, so sparse mode
      cannot run under XLA (`jit_compile=True`); Keras then compiles without XLA and warns.

    `none` is never computed: its bit contributes nothing.

    Args:
        filters: channels of the input and the output.
        stride: 1, or 2 for edges that reduce the resolution.
        primitives: candidate operation names (registered in `operations`); default DARTS'
            eight.
        execution: "dense" or "sparse" (see above).
        renormalize: if True, divide the sum by the number of active operations (constant in
            the backward pass), so the edge's output scale does not grow with M.

    Call arguments:
        inputs: `[batch, H, W, filters]`.
        code: `[K]` code of this edge (from `EnsembleGumbelSoftmax`).
        training: passed to the operations' batch norms.

    Example:

    >>> edge = EGSMixedOp(filters=16, execution="sparse")
    >>> code = tf.constant([0., 0., 0., 1., 1., 0., 0., 0.])   # skip + sep_conv_3x3
    >>> edge(tf.zeros([2, 8, 8, 16]), code).shape
    TensorShape([2, 8, 8, 16])
    """

    def __init__(self, filters, stride=1, primitives=search_space.CNN_PRIMITIVES,
                 execution="dense", renormalize=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = _validation.check_positive_int("filters", filters)
        if stride not in (1, 2):
            raise _validation.invalid("stride", "1 or 2", stride)
        self.stride = stride
        self.primitives = operations.check_operation_names(primitives)
        if execution not in EXECUTION_MODES:
            raise _validation.invalid("execution", f"one of {list(EXECUTION_MODES)}", execution)
        self.execution = execution
        self.renormalize = bool(renormalize)
        self.supports_jit = execution == "dense"

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, stride=self.stride, primitives=list(self.primitives),
                      execution=self.execution, renormalize=self.renormalize)
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
        for k, name in enumerate(self.primitives):
            if name == search_space.NONE:
                continue
            op = operations.get_operation(name, self.filters, self.stride, search=True,
                                          layer_name=f"{k}_{name}")
            op.build(input_shape)
            self.candidates[k] = op

    def call(self, inputs, code, training=None):
        code = tf.cast(code, inputs.dtype)
        num_ops = len(self.primitives)
        if code.shape.rank != 1 or code.shape[0] != num_ops:
            raise ValueError(
                f"Received a code of shape {code.shape}, expected [{num_ops}] (one entry per "
                f"primitive {list(self.primitives)})."
            )
        if self.execution == "dense":
            entries = tf.unstack(code, num=num_ops)
            terms = [entries[k] * op(inputs, training=training)
                     for k, op in self.candidates.items()]
            output = tf.add_n(terms) if terms else self._zeros(inputs)
        else:
            output = self._sparse_sum(inputs, code, training)
        if self.renormalize:
            active = tf.gather(code, list(self.candidates)) if self.candidates else code[:0]
            output = output / tf.maximum(tf.stop_gradient(tf.reduce_sum(active)), 1.0)
        return tf.ensure_shape(output, self.compute_output_shape(inputs.shape))

    def _sparse_sum(self, inputs, code, training):
        """Weighted ops run on their full input or on a corner crop; weightless ones in full."""
        num_ops, stride = len(self.primitives), self.stride
        active = code > 0
        output_shape = self.compute_output_shape(inputs.shape)
        dynamic_shape = tf.shape(inputs)
        in_hw = _static_or_dynamic(inputs.shape[1:3], dynamic_shape[1:3])
        out_hw = _static_or_dynamic(output_shape[1:3], (dynamic_shape[1:3] + stride - 1) // stride)
        smallest = tf.constant([getattr(self.candidates.get(k), "crop_multiple", 1)
                                for k in range(num_ops)], tf.int32)
        in_ends = tf.unstack(_crop_ends(active, in_hw, smallest * stride), num=num_ops)
        out_ends = tf.unstack(_crop_ends(active, out_hw, smallest), num=num_ops)
        out_shape = tf.concat([dynamic_shape[:1], out_hw, [self.filters]], axis=0)
        # Inactive entries are exactly 0; stop their gradient, which the crop would make wrong.
        coefficients = tf.unstack(tf.where(active, code, tf.stop_gradient(code)), num=num_ops)
        terms = []
        for k, op in self.candidates.items():
            if not op.trainable_weights:  # pools and identity: cheaper to run than to crop
                terms.append(coefficients[k] * op(inputs, training=training))
                continue
            # Weighted before padding: an inactive operation's product and its gradients stay
            # crop-sized; only the zero padding and the sum touch full-size tensors.
            weighted = coefficients[k] * op(_crop(inputs, in_ends[k]), training=training)
            padded = _uncrop(weighted, out_ends[k], out_shape)
            padded.set_shape(output_shape)
            terms.append(padded)
        return tf.add_n(terms) if terms else self._zeros(inputs)

    def _zeros(self, inputs):
        if self.stride == 1:
            return tf.zeros_like(inputs)
        return tf.zeros_like(inputs[:, ::2, ::2])

    def compute_output_shape(self, input_shape, code_shape=None):
        spatial = [None if d is None else -(-d // self.stride) for d in input_shape[1:3]]
        return (input_shape[0], *spatial, self.filters)


def _static_or_dynamic(static, dynamic):
    """An int32 [2] tensor of the sides: a constant when they are known when tracing."""
    if None in tuple(static):
        return dynamic
    return tf.constant(tuple(static), tf.int32)
