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

from egs_keras import cost_measures


def count_parameters(model, include_auxiliary=False):
    """Trainable parameters, without the auxiliary head unless `include_auxiliary`."""
    head = getattr(model, "auxiliary_head", None)
    skip = set() if include_auxiliary or head is None else {id(v) for v in head.weights}
    return int(sum(np.prod(v.shape) for v in model.trainable_variables if id(v) not in skip))


def count_multiply_adds(model, input_shape=None):
    """Multiply-adds of `model(x, training=False)` for one image of `input_shape`
    (default: the model's `image_shape`)."""
    shape = tuple(input_shape or model.image_shape)
    return cost_measures.count_function_multiply_adds(lambda x: model(x, training=False),
                                                      (1, *shape))
