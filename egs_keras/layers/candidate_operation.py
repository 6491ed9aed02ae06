"""The base of the built-in candidate operations and how a searched layer calls one: on kernels
given as tensors (`takes_kernels`), and scaled by a code entry folded into its last batch norm
(`scaled_call`).

>>> from egs_keras.layers import operations
>>> op = operations.get_operation("sep_conv_3x3", 4, search=True)
>>> takes_kernels(op), scales_output(op)
(True, True)
"""

import functools
import inspect
import math

import keras

from egs_keras.layers.batch_norm import BatchNorm


def takes_kernels(layer):
    """Whether `layer` can run on kernels given as tensors: a built-in operation whose `call`
    accepts `kernels=` (a subclass that overrides `call` without it keeps its own weights)."""
    return isinstance(layer, Operation) and "kernels" in _call_parameters(layer)


def scales_output(layer):
    """Whether `layer`'s `call` accepts `output_scale=` (see `scaled_call`)."""
    return isinstance(layer, Operation) and "output_scale" in _call_parameters(layer)


def _call_parameters(layer):
    return _parameters_of(type(layer))


@functools.cache
def _parameters_of(layer_class):
    return frozenset(inspect.signature(layer_class.call).parameters)


def scaled_call(layer, inputs, scale, training=None, kernels=None):
    """`scale · layer(inputs, kernels=kernels)`: folded into the layer's last batch norm when
    it has one (one op fewer forward and three fewer backward, and no product tensor), else
    a product.

    >>> op = operations.get_operation("sep_conv_3x3", 4, search=True)
    >>> scaled_call(op, tf.ones([1, 4, 4, 4]), tf.constant(0.0), training=True).shape
    TensorShape([1, 4, 4, 4])
    """
    extra = {} if kernels is None else {"kernels": kernels}
    if scales_output(layer):
        return layer(inputs, training=training, output_scale=scale, **extra)
    return scale * layer(inputs, training=training, **extra)


def _kernel(layer, name, shape):
    return layer.add_weight(name=name, shape=shape, initializer="he_normal", trainable=True)


def stacked_kernel_initializer(shape, dtype=None):
    """He-normal initial values for `[n, *kernel_shape]`: each of the n kernels as Keras'
    `he_normal` draws one (truncated normal, fan-in of one kernel, not of the stack), in
    one draw."""
    fan_in = math.prod(shape[1:-1])
    stddev = math.sqrt(2.0 / fan_in) / 0.87962566103423978  # std of the ±2σ truncation
    return keras.random.truncated_normal(shape, stddev=stddev, dtype=dtype)


class Operation(keras.layers.Layer):
    """Base: stores `filters`, `stride`, `affine`; BN layers are built with the same flags.

    Kernels: `kernel_shapes(input_shape)` lists them (name → shape, in creation order);
    `build` creates them as the layer's weights unless `own_kernels` is False, in which case
    `call` must get `kernels=` {name: tensor}. `call(..., output_scale=s)` returns s · output.
    """

    own_kernels = True

    def __init__(self, filters, stride=1, affine=True, track_statistics=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.stride = stride
        self.affine = affine
        self.track_statistics = track_statistics

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, stride=self.stride, affine=self.affine,
                      track_statistics=self.track_statistics)
        return config

    def kernel_shapes(self, input_shape):
        """{kernel name: shape} of the operation's kernels for inputs of `input_shape`."""
        del input_shape
        return {}

    def _build_kernels(self, input_shape):
        """The layer's own kernel variables ({} without `own_kernels`)."""
        if not self.own_kernels:
            return {}
        return {name: _kernel(self, name, shape)
                for name, shape in self.kernel_shapes(input_shape).items()}

    def _kernels(self, kernels, own):
        if kernels is not None:
            return kernels
        if not self.own_kernels:
            raise ValueError(
                f"Received no `kernels` for operation {self.name!r}, which was built without "
                f"kernels of its own (own_kernels=False); expected tensors of shapes "
                f"{self._expected_kernels}.")
        return own

    def build(self, input_shape):
        self._expected_kernels = self.kernel_shapes(input_shape)

    def _batch_norm(self, name):
        return BatchNorm(affine=self.affine, track_statistics=self.track_statistics, name=name)

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else -(-d // self.stride) for d in input_shape[1:3]]
        return (input_shape[0], *spatial, self.filters)
