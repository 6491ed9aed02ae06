"""Run part of a compiled graph only when a boolean tensor is true, without `tf.cond`.

TensorFlow's graph executor does not run an op any of whose inputs is *dead*, and marks its
outputs dead in turn; `Switch(x, pred)` makes one of its two outputs dead, `Merge` forwards
whichever of its inputs is alive. So an operation fed by `gate(x, pred)` (and, for its
variables, by gated reads) costs nothing when `pred` is false, and `add_if` joins its result
back into a live sum. Unlike `tf.cond`, nothing is traced into branch functions, and the
skipped branch neither runs nor outputs zero-filled intermediates for its gradient: tracing
costs what the operation itself costs, and a skipped operation costs a few tiny ops. This is
what sparse execution of the search layers uses (`layers.execution_modes`; see
`benchmarks/PERFORMANCE_NOTES.md` for the measurements).

The gradients are recorded on the `tf.GradientTape` directly (TensorFlow's own gradients of
`Switch`/`Merge` need v1 control-flow contexts): a gated tensor's gradient is the upstream one
when `pred` is true and zeros otherwise, so gradients outside the gated part are always alive.

Only for graphs (`tf.function`); in eager mode decide in Python instead. The gated part must be
free of stateful ops (variable reads or assignments, assertions, prints, stateful random
numbers): a dead stateful op silently corrupts the function's results (seen: empty outputs).
`call_if` checks this when tracing.

>>> @tf.function
... def double_if(x, pred):
...     return add_if(x, 2.0 * gate(x, pred), pred)     # 3x if pred, else x
>>> [float(double_if(tf.constant(1.0), tf.constant(p))) for p in (True, False)]
[3.0, 1.0]
"""


import tensorflow as tf

from egs_keras._compat import record  # the tape's recording API (see _compat)

HOST = "/device:CPU:0"


def weighted_gradient(entry, weight):
    """`entry` in the forward pass; `weight` times its gradient in the backward pass."""
    fixed = tf.stop_gradient(entry)
    return fixed + (entry - fixed) * weight


def on_host():
    """The device scope where sparse execution draws its codes: a `Switch` predicate lives
    in host memory on a GPU, so codes (a few hundred bits) drawn on the device would cost a
    device-to-host copy and a stream synchronisation per gate, every step. Computations on
    a code (`with near(code)`) stay where it is; its values reach the device's ops as small
    asynchronous copies."""
    return tf.device(HOST)


def near(tensor):
    """The device scope of `tensor`'s op (none if it was placed by default)."""
    return tf.device(tensor.device or "")


def gate(tensor, pred):
    """`tensor` when `pred` is true, else a dead tensor (whatever consumes it does not run).

    Gradient: the upstream gradient when `pred` is true, zeros of `tensor`'s shape otherwise.
    """
    with record.stop_recording():
        dead_if_true, dead_if_false = tf.raw_ops.Switch(data=tensor, pred=pred)

    def backward(upstream):
        # `ZerosLike` of the false output (not `tf.zeros_like`, which may fold into a constant
        # of a known shape) is alive exactly when `upstream` is dead: Merge gets one live input.
        return [tf.raw_ops.Merge(inputs=[upstream, tf.raw_ops.ZerosLike(x=dead_if_true)])[0]]

    record.record_operation("EGSGate", [dead_if_false], [tensor], backward)
    return dead_if_false


def gate_each(tensor, preds):
    """`[gate(tensor, pred) for pred in preds]`, with one gradient for all: the sum of the
    live upstream gradients, built on a single zero tensor (not one zero tensor per skipped
    consumer, which costs a full-size fill and a read each when `tensor` is large)."""
    with record.stop_recording():
        gated = [tf.raw_ops.Switch(data=tensor, pred=pred)[1] for pred in preds]

    def backward(*upstreams):
        total = tf.raw_ops.ZerosLike(x=tensor)
        for upstream, pred in zip(upstreams, preds, strict=True):
            if upstream is not None:
                total = _add_if(total, upstream, pred)
        return [total]

    record.record_operation("EGSGateEach", gated, [tensor], backward)
    return gated


def _add_if(total, term, pred):
    skipped, taken = tf.raw_ops.Switch(data=total, pred=pred)
    return tf.raw_ops.Merge(inputs=[skipped, taken + term])[0]


def add_if(total, term, pred):
    """`total + term` when `pred` is true, else `total`; `term` must come from gated tensors
    (it is dead when `pred` is false). Always alive."""
    with record.stop_recording():
        result = _add_if(total, term, pred)
    result.set_shape(total.shape)

    def backward(upstream):
        return [upstream, tf.raw_ops.Switch(data=upstream, pred=pred)[1]]

    record.record_operation("EGSAddIf", [result], [total, term], backward)
    return result
