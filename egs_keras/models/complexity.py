"""Model size and cost: trainable parameters and multiply-adds of one inference.

Multiply-adds are counted the way papers report them ("mult-adds"): the convolutions and the
dense layers of one forward pass on a single image, read from the traced inference graph, so
every layer counts, whoever wrote it.

>>> genotype = egs_keras.search_space.published_genotype("darts_v2")
>>> model = egs_keras.models.EvaluationNetwork(genotype, input_shape=(32, 32, 3),
...                                            filters=8, num_cells=3)
>>> count_multiply_adds(model) > count_parameters(model) > 0
True
"""

import numpy as np
import tensorflow as tf


def count_parameters(model, include_auxiliary=False):
    """Trainable parameters, without the auxiliary head unless `include_auxiliary`."""
    head = getattr(model, "auxiliary_head", None)
    skip = set() if include_auxiliary or head is None else {id(v) for v in head.weights}
    return int(sum(np.prod(v.shape) for v in model.trainable_variables if id(v) not in skip))


def count_multiply_adds(model, input_shape=None):
    """Multiply-adds of `model(x, training=False)` for one image of `input_shape`
    (default: the model's `image_shape`)."""
    shape = tuple(input_shape or model.image_shape)
    return count_function_multiply_adds(lambda x: model(x, training=False), (1, *shape))


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
