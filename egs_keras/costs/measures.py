"""What a function, a layer or a model costs: the measures of the resource prior, and the
size of a network.

* "latency": milliseconds of one forward + backward pass (gradients for the input and the
  weights, as in a training step), the median of repeated runs after warm-up, minus the same
  harness around no operation (`measure_latency`);
* "parameters": trainable weights (`count_parameters`; an evaluation network's auxiliary
  head only if asked);
* "multiply_adds": multiply-adds of the convolutions and matrix products of one forward pass
  on one example, read from the traced graph (`count_function_multiply_adds`);
* "litert": milliseconds of one inference on one example in LiteRT's interpreter, the
  function converted to a float32 `.tflite` file, minus the same harness around an identity
  (`measure_litert_latency`): what a network deployed with LiteRT pays.

>>> dense = keras.layers.Dense(4)
>>> dense.build((None, 8))
>>> count_parameters(dense), count_function_multiply_adds(dense, (1, 8))
(36, 32)

A network's multiply-adds are counted the way papers report them ("mult-adds"): the
convolutions and dense layers of one inference on one image, read from the traced graph, so
every layer counts, whoever wrote it:

>>> genotype = egs_keras.search_space.published_genotype("darts_v2")
>>> model = egs_keras.models.EvaluationNetwork(genotype, input_shape=(32, 32, 3),
...                                            filters=8, num_cells=3)
>>> count_multiply_adds(model) > count_parameters(model) > 0
True
"""

import statistics
import time

import numpy as np
import tensorflow as tf

from egs_keras import _validation

MEASURES = ("latency", "parameters", "multiply_adds", "litert")
MEASURED = ("latency", "litert")  # timed on a machine (the others are counted)


def check_measure(measure, name="op_costs"):
    if measure not in MEASURES:
        raise _validation.invalid(name, f"one of {list(MEASURES)}", measure)
    return measure


def count_parameters(layer, include_auxiliary=False):
    """The number of trainable weights of a built layer or model, without an evaluation
    network's `auxiliary_head` (a training aid, never exported) unless `include_auxiliary`."""
    head = getattr(layer, "auxiliary_head", None)
    skip = set() if include_auxiliary or head is None else {id(w) for w in head.weights}
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights if id(w) not in skip))


def count_multiply_adds(model, input_shape=None):
    """Multiply-adds of `model(x, training=False)` for one example of `input_shape` (default:
    the model's `image_shape`)."""
    shape = tuple(input_shape or model.image_shape)
    return count_function_multiply_adds(lambda x: model(x, training=False), (1, *shape))


def measure_latency(function, variables, input_shape, warmup=3, repeats=15, device=None):
    """Median milliseconds of `function(x)` forward + backward (the gradients of the sum of
    its output with respect to `x` and `variables`), for `x` of `input_shape`, after
    `warmup` runs; the time of the same harness around `tf.identity` is subtracted. At least
    `MIN_LATENCY_MS`: on a loaded machine a tiny operation can time below the harness, and
    an operation that does work must never look as free as `none`."""

    def timed(forward, weights):
        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(forward(x))
            return tape.gradient(loss, [x, *weights])

        with tf.device(device):
            x = tf.random.stateless_normal(input_shape, seed=[0, 0])
            times = []
            for run in range(warmup + repeats):
                start = time.perf_counter()
                outputs = step(x)
                _ = [t.numpy() for t in outputs[:1]]
                if run >= warmup:
                    times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3

    baseline = (tuple(input_shape), device)
    if baseline not in _HARNESS_MS:
        _HARNESS_MS[baseline] = timed(tf.identity, [])
    return max(timed(function, variables) - _HARNESS_MS[baseline], MIN_LATENCY_MS)


MIN_LATENCY_MS = 1e-3  # 1 µs: the table's resolution is 0.1 µs
_HARNESS_MS = {}


def measure_litert_latency(function, input_shape, num_threads=1):
    """Median milliseconds of one inference of `function` (in inference mode, e.g. a built
    layer called with `training=False`) on a float32 input of `input_shape` in LiteRT with
    `num_threads` threads, minus the same harness around an identity; at least
    `MIN_LATENCY_MS`. Needs the LiteRT interpreter (`pip install 'egs_keras[litert]'`)."""
    from egs_keras.export import litert  # (the converter and the interpreter)

    baseline = ("litert", tuple(input_shape), num_threads)
    if baseline not in _HARNESS_MS:
        _HARNESS_MS[baseline] = litert.inference_milliseconds(tf.identity, input_shape,
                                                              num_threads)
    measured = litert.inference_milliseconds(function, input_shape, num_threads)
    return max(measured - _HARNESS_MS[baseline], MIN_LATENCY_MS)


def count_function_multiply_adds(function, input_shape):
    """Multiply-adds of the convolutions and matrix products of `function(x)` for a float32
    `x` of the (fully defined) `input_shape`."""
    traced = tf.function(function).get_concrete_function(tf.TensorSpec(input_shape, tf.float32))
    return sum(_multiply_adds(op) for op in traced.graph.get_operations())


def _multiply_adds(op):
    if op.type in ("Conv2D", "DepthwiseConv2dNative"):
        output = op.outputs[0].shape
        kernel = op.inputs[1].shape
        if not output.is_fully_defined() or not kernel.is_fully_defined():
            return 0
        per_output = int(np.prod(kernel[:3])) if op.type == "Conv2D" else int(
            np.prod(kernel[:2]))
        return int(np.prod(output)) * per_output
    if op.type in ("MatMul", "BatchMatMulV2"):
        output, left = op.outputs[0].shape, op.inputs[0].shape
        if not output.is_fully_defined() or not left.is_fully_defined():
            return 0
        transpose = op.get_attr("transpose_a") if op.type == "MatMul" else op.get_attr("adj_x")
        inner = left[-2] if transpose else left[-1]
        return int(np.prod(output)) * int(inner)
    return 0
