"""How a searched layer computes its candidates: "dense" (all, masked), "sparse" (the active
ones and probes of the inactive ones) or "sparse_biased" (the active ones only); the sparse
modes run the active candidates through graph gates (`ops.gating`).

>>> check_execution("sparse")
'sparse'
>>> check_probe_rate(0.25)
0.25
"""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras.layers import candidate_operation
from egs_keras.ops.gating import add_if
from egs_keras.ops.gating import gate
from egs_keras.ops.gating import gate_each
from egs_keras.ops.gating import near
from egs_keras.ops.gating import weighted_gradient

# How searched layers compute their candidates (docs/search.md, "Execution"):
# "dense": all, masked; "sparse": the active ones plus probes of the inactive ones (the α-gradient
# is an unbiased estimate of dense's); "sparse_biased": the active ones only (GDAS-like: an
# inactive entry gets no gradient, so rarely drawn operations never get evidence).
EXECUTION_MODES = ("dense", "sparse", "sparse_biased")
SPARSE_MODES = ("sparse", "sparse_biased")
DEFAULT_PROBE_RATE = 0.25


def check_execution(execution):
    """`execution` if it is one of `EXECUTION_MODES`, else a ValueError that says what each
    mode does."""
    if execution not in EXECUTION_MODES:
        raise _validation.invalid(
            "execution", f"one of {list(EXECUTION_MODES)}", execution,
            hint='"dense" computes every operation; "sparse" the active ones and a random '
                 'share of the others (unbiased α-gradient); "sparse_biased" only the active '
                 "ones (GDAS-like, biased).")
    return execution


def check_probe_rate(probe_rate, name="probe_rate"):
    """The probability in (0, 1] that sparse execution computes an inactive operation."""
    if (isinstance(probe_rate, bool) or not isinstance(probe_rate, (int, float))
            or not 0.0 < probe_rate <= 1.0):
        raise _validation.invalid(
            name, "a number in (0, 1]", probe_rate,
            hint="It is the chance that sparse execution also computes an inactive operation "
                 "(its α-gradient then weighs 1 / probe_rate); 1 computes every operation.")
    return float(probe_rate)


def probe_weights(probes, code, probe_rate):
    """`1 / probe_rate` where an inactive entry of `code` is probed, else 0: the weights
    `sparse_weighted_sum` takes (probes of active entries change nothing)."""
    with near(code):
        probed = tf.logical_and(probes, tf.logical_not(code > 0))
        return tf.where(probed, tf.constant(1.0 / probe_rate, code.dtype),
                        tf.zeros_like(code))


def call_if(layer, gated_inputs, pred, *, scale=None, kernels=None, training=None):
    """`scale · layer(gated_inputs, kernels=kernels)` (see `candidate_operation.scaled_call`;
    no scale: the plain call) when `pred` is true, else a dead tensor. `gated_inputs` come from
    `gate`/`gate_each` on `pred`; the scale, the given kernels and the layer's own variables
    pass through `gate` here, so none of its ops run (forward or backward) when `pred` is
    false, and its variables and kernels then get zero gradients.

    Raises ValueError for a layer with non-trainable variables (its state must be updated
    every step) or one whose call creates a stateful op (an assertion, a print, a variable
    read or update, stateful random numbers): a skipped one would corrupt the results.
    """
    stateful = [v.path for v in layer.weights if not v.trainable]
    if stateful:
        raise ValueError(
            f"Received layer {layer.name!r} with non-trainable variables {stateful}, expected "
            "only trainable ones: a layer that updates state must run every step.")
    graph = tf.compat.v1.get_default_graph()
    mapping = [(v, gate(tf.convert_to_tensor(v.value), pred)) for v in layer.weights]
    if kernels is not None:
        kernels = {name: gate(kernel, pred) for name, kernel in kernels.items()}
    existing = len(graph.get_operations())
    with keras.StatelessScope(state_mapping=mapping):
        if scale is None:
            extra = {} if kernels is None else {"kernels": kernels}
            outputs = layer(gated_inputs, training=training, **extra)
        else:
            outputs = candidate_operation.scaled_call(layer, gated_inputs, gate(scale, pred),
                                                      training, kernels)
    stateful = [f"{op.name} ({op.type})" for op in graph.get_operations()[existing:]
                if op.op_def is not None and op.op_def.is_stateful]
    if stateful:
        raise ValueError(
            f"Received layer {layer.name!r} whose call creates stateful ops {stateful[:5]}, "
            "expected none: a skipped stateful op would corrupt the step. Use stateless ops in "
            "the layer (e.g. `tf.random.stateless_*`, no assertions or prints), or run it "
            "every step (dense execution).")
    return outputs


def sparse_weighted_sum(inputs, code, layers, zeros, training=None, kernels=None,
                        probe_weights=None):
    """Σ_k code[k] · layers[k](inputs) over the entries whose bit (code[k] > 0) is on, running
    only those layers: the sparse execution of `EGSMixedOp` and `EGSChoice`.

    `layers` is {index k into `code`: layer}; `zeros` a live zero tensor of the outputs'
    shape and dtype to start the sum from; `kernels` {k: {name: tensor}} for layers that take
    their kernels as tensors (`candidate_operation.takes_kernels`). In a compiled step each layer's
    input, kernels and variables pass through `gate` on its bit; eagerly, Python skips the
    inactive layers. Code entries are folded into the layers' last batch norms where they
    have one (`candidate_operation.scaled_call`).

    `probe_weights` (`[K]`, see `probe_weights`) makes the α-gradient unbiased: an inactive
    entry with weight w > 0 is computed too (its term is 0 · layer(x), so the forward pass
    does not change) and its gradient ⟨upstream, layer(x)⟩ is multiplied by w = 1 / rate:
    in expectation over the probes every entry gets dense execution's gradient. Without it
    (`sparse_biased`), an inactive entry gets no gradient.

    A layer with non-trainable state (e.g. batch-norm statistics) always runs, so that its
    state is updated every step as in dense execution; its inactive entry is 0 and gets the
    dense gradient with probes, none without.
    """
    kernels = kernels or {}
    with near(code):  # predicates where the code was drawn (the host, see `on_host`)
        entries = raw_entries = tf.unstack(code, num=code.shape[0])
        bits = code > 0
        if probe_weights is not None:
            weights = tf.unstack(tf.where(bits, tf.ones_like(code), probe_weights),
                                 num=code.shape[0])
            entries = [weighted_gradient(e, w) for e, w in zip(entries, weights, strict=True)]
            bits = tf.logical_or(bits, probe_weights > 0)
        bits = tf.unstack(bits, num=code.shape[0])
    total = zeros
    gated = {}
    for k, layer in layers.items():
        if any(not v.trainable for v in layer.weights):
            entry = raw_entries[k]  # computed anyway: with probes, dense's exact gradient
            if probe_weights is None:
                entry = tf.where(bits[k], entry, tf.stop_gradient(entry))
            total += candidate_operation.scaled_call(layer, inputs, entry, training, kernels.get(k))
        elif tf.executing_eagerly():
            if bool(bits[k]):
                total += candidate_operation.scaled_call(layer, inputs, entries[k], training,
                                                kernels.get(k))
        else:
            gated[k] = layer
    if gated:
        gated_inputs = gate_each(inputs, [bits[k] for k in gated])
        for (k, layer), layer_inputs in zip(gated.items(), gated_inputs, strict=True):
            term = call_if(layer, layer_inputs, bits[k], scale=entries[k],
                           kernels=kernels.get(k), training=training)
            total = add_if(total, term, bits[k])
    return total
