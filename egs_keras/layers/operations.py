"""Candidate operations of the DARTS CNN search space, registered by name and stride-aware.

Each operation is a thin Keras layer that creates its variables in `build()` and calls
TensorFlow ops directly (one fused op per batch norm), which keeps graphs of big search networks
small and fast to trace. Build one with `get_operation`, add your own with
`register_operation`:

>>> op = get_operation("sep_conv_3x3", filters=16, stride=2)
>>> op(tf.zeros([2, 8, 8, 16])).shape
TensorShape([2, 4, 4, 16])

>>> @register_operation("conv_1x1")
... def _conv_1x1(filters, stride, search=False):
...     return ReLUConvBN(filters, kernel_size=1, stride=stride, **search_options(search))

`search=True` builds the operation as a search network uses it (DARTS conventions): batch norms
without scale/offset that always use batch statistics, and pooling followed by a batch norm.
"""

import keras
import tensorflow as tf

from egs_keras import _validation

_REGISTRY = {}


def search_options(search):
    """Keyword arguments of the operation layers for search (True) or evaluation (False)."""
    return {"affine": not search, "track_statistics": not search}


def register_operation(name):
    """Decorator registering `factory(filters, stride, search=False) -> keras.layers.Layer`.

    The factory must return a layer mapping `[B, H, W, filters]` to
    `[B, ceil(H / stride), ceil(W / stride), filters]`.
    """
    if not isinstance(name, str) or not name:
        raise _validation.invalid("name", "a non-empty string", name)

    def decorator(factory):
        _REGISTRY[name] = factory
        return factory

    return decorator


def operation_names():
    """Names of all registered operations."""
    return sorted(_REGISTRY)


def check_operation_names(primitives):
    """Returns `primitives` as a tuple of names, raising ValueError for unknown ones."""
    primitives = tuple(primitives)
    unknown = [p for p in primitives if p not in _REGISTRY]
    if unknown or not primitives:
        raise _validation.invalid(
            "primitives", f"registered operation names from {operation_names()}",
            list(primitives), hint="Add your own with `register_operation(name)`.",
        )
    return primitives


def get_operation(name, filters, stride=1, search=False, layer_name=None):
    """Builds operation `name` for `filters` channels, `stride` 1 or 2, search or evaluation."""
    check_operation_names([name])
    filters = _validation.check_positive_int("filters", filters)
    if stride not in (1, 2):
        raise _validation.invalid("stride", "1 or 2", stride)
    layer = _REGISTRY[name](filters, stride, search=search)
    if layer_name:
        layer.name = layer_name
    return layer


def _kernel(layer, name, shape):
    return layer.add_weight(name=name, shape=shape, initializer="he_normal", trainable=True)


@keras.saving.register_keras_serializable(package="egs_keras")
class BatchNorm(keras.layers.Layer):
    """Batch normalisation as one fused op, with optional scale/offset and running statistics.

    Args:
        affine: learn a scale and an offset (DARTS search cells use False).
        track_statistics: keep running mean/variance for inference. If False the layer always
            normalises with the batch's statistics (search networks, whose weights are shared by
            changing architectures, use this).
        momentum: weight of the old running statistics.
        epsilon: added to the variance.
    """

    def __init__(self, affine=True, track_statistics=True, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.affine = affine
        self.track_statistics = track_statistics
        self.momentum = momentum
        self.epsilon = epsilon

    def get_config(self):
        config = super().get_config()
        config.update(affine=self.affine, track_statistics=self.track_statistics,
                      momentum=self.momentum, epsilon=self.epsilon)
        return config

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.affine:
            self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
            self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        if self.track_statistics:
            # "mean": under tf.distribute each replica's update is averaged over all replicas
            # (and workers), so every copy holds the statistics of the global batch.
            self.moving_mean = self.add_weight(
                name="moving_mean", shape=(channels,), initializer="zeros", trainable=False,
                aggregation="mean")
            self.moving_variance = self.add_weight(
                name="moving_variance", shape=(channels,), initializer="ones", trainable=False,
                aggregation="mean")

    def call(self, inputs, training=None):
        channels = inputs.shape[-1]
        scale, offset = (self.gamma, self.beta) if self.affine else _shared_constants(channels)
        if self.track_statistics and not training:
            return tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset, mean=self.moving_mean,
                variance=self.moving_variance, epsilon=self.epsilon, is_training=False)[0]
        empty = _shared_constants(0)[0]
        outputs, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=scale, offset=offset, mean=empty, variance=empty,
            epsilon=self.epsilon, is_training=True)[:3]
        if self.track_statistics:
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(
                self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


_SHARED_CONSTANTS = {}


def _shared_constants(channels):
    """Eager (ones, zeros) of length `channels`, created once: a graph captures each once,
    instead of creating constants in every batch norm, which keeps search graphs small."""
    if channels not in _SHARED_CONSTANTS:
        with tf.init_scope():
            _SHARED_CONSTANTS[channels] = (tf.ones([channels]), tf.zeros([channels]))
    return _SHARED_CONSTANTS[channels]


class _Operation(keras.layers.Layer):
    """Base: stores `filters`, `stride`, `affine`; BN layers are built with the same flags."""

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

    def _batch_norm(self, name):
        return BatchNorm(affine=self.affine, track_statistics=self.track_statistics, name=name)

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else -(-d // self.stride) for d in input_shape[1:3]]
        return (input_shape[0], *spatial, self.filters)


@keras.saving.register_keras_serializable(package="egs_keras")
class ReLUConvBN(_Operation):
    """ReLU → convolution `kernel_size` × `kernel_size` → batch norm (used to preprocess inputs)."""

    def __init__(self, filters, kernel_size=1, stride=1, **kwargs):
        super().__init__(filters, stride, **kwargs)
        self.kernel_size = kernel_size

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}

    def build(self, input_shape):
        size = self.kernel_size
        self.kernel = _kernel(self, "kernel", (size, size, input_shape[-1], self.filters))
        self.bn = self._batch_norm("bn")
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = tf.nn.conv2d(tf.nn.relu(inputs), self.kernel, self.stride, "SAME")
        return self.bn(x, training=training)


@keras.saving.register_keras_serializable(package="egs_keras")
class DilConv(_Operation):
    """ReLU → depthwise k×k (dilated) → pointwise 1×1 → batch norm (DARTS `dil_conv_kxk`).

    With `dilation_rate=1` and `repeats=2` it is DARTS' `sep_conv_kxk`: the unit applied twice,
    the first time with the stride.
    """

    def __init__(self, filters, kernel_size=3, stride=1, dilation_rate=2, repeats=1, **kwargs):
        super().__init__(filters, stride, **kwargs)
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate
        self.repeats = repeats

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate, "repeats": self.repeats}

    def build(self, input_shape):
        size, channels = self.kernel_size, input_shape[-1]
        self.depthwise, self.pointwise, self.bns = [], [], []
        for r in range(self.repeats):
            self.depthwise.append(_kernel(self, f"depthwise_{r}", (size, size, channels, 1)))
            self.pointwise.append(_kernel(self, f"pointwise_{r}", (1, 1, channels, self.filters)))
            bn = self._batch_norm(f"bn_{r}")
            bn.build(input_shape[:-1] + (self.filters,))
            self.bns.append(bn)
            channels = self.filters
        rate = self.dilation_rate
        # Sub-grid form of a stride-1 dilated convolution needs sides divisible by the rate.
        self._sides_divisible = rate > 1 and self.stride == 1 and all(
            d is not None and d % rate == 0 for d in input_shape[1:3])

    def call(self, inputs, training=None):
        x = inputs
        for r in range(self.repeats):
            stride = self.stride if r == 0 else 1
            x = self._depthwise(tf.nn.relu(x), self.depthwise[r], stride)
            x = self.bns[r](tf.nn.conv2d(x, self.pointwise[r], 1, "SAME"), training=training)
        return x

    def _depthwise(self, x, kernel, stride):
        """Depthwise "SAME" convolution in few graph ops (tracing time follows op count).

        Strided outputs are centred on the input pixels at multiples of the stride (PyTorch's
        symmetric padding in DARTS; TF's "SAME" would centre output i on pixel 2i + 1 and
        misalign it with the pools and the dilated convolutions summed on the same edge).
        A kernel dilated by d reads one of the d×d interleaved sub-grids of its input: at
        stride d only the sub-grid at the origin is needed; at stride 1, when the sides are
        divisible by d, the sub-grids go through the undilated kernel side by side
        (`SpaceToBatchND` without padding). Strided dilated outputs are the stride-1 outputs
        at multiples of the stride (PyTorch's `padding = d·(k−1)/2`, as in DARTS).
        """
        rate = self.dilation_rate

        def undilated(images, step):
            if step == 1:
                return tf.raw_ops.DepthwiseConv2dNative(
                    input=images, filter=kernel, strides=[1, 1, 1, 1], padding="SAME")
            pad = (self.kernel_size - 1) // 2  # output i centred on input step·i, as DARTS
            return tf.raw_ops.DepthwiseConv2dNative(
                input=images, filter=kernel, strides=[1, step, step, 1], padding="EXPLICIT",
                explicit_paddings=[0, 0, pad, pad, pad, pad, 0, 0])

        if rate == 1:
            return undilated(x, stride)
        if stride == rate:
            return undilated(_subgrids(_pad_to_multiple(x, rate), rate)[0], 1)
        if stride == 1 and self._sides_divisible:
            block, no_padding = [rate, rate], [[0, 0], [0, 0]]
            subgrids = tf.space_to_batch_nd(x, block, no_padding)
            return tf.batch_to_space(undilated(subgrids, 1), block, no_padding)
        # TF has no strided dilated depthwise kernel: subsample the stride-1 output.
        return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME",
                                      dilations=[rate, rate])[:, ::stride, ::stride]


def _pad_to_multiple(images, multiple):
    """Zero-pads the bottom and right of `images` to sides divisible by `multiple`."""
    height, width = images.shape[1:3]
    if height is not None and width is not None and height % multiple == width % multiple == 0:
        return images
    missing = -tf.shape(images)[1:3] % multiple
    return tf.pad(images, [[0, 0], [0, missing[0]], [0, missing[1]], [0, 0]])


def _subgrids(images, step):
    """The step×step interleaved sub-grids `images[:, a::step, b::step]`, row-major in (a, b),
    from one `SpaceToBatchND` (sides divisible by `step`). Same values as strided slices,
    whose gradients are slow on CPU."""
    blocks = tf.space_to_batch_nd(images, [step, step], [[0, 0], [0, 0]])
    return tf.split(blocks, step * step)


@keras.saving.register_keras_serializable(package="egs_keras")
class Pooling(_Operation):
    """3×3 max or average pooling (average over valid pixels only), optionally batch-normed;
    at stride 2 output i is centred on input 2i (DARTS' alignment)."""

    def __init__(self, filters, stride=1, pool_type="max", batch_norm=False, **kwargs):
        super().__init__(filters, stride, **kwargs)
        if pool_type not in ("max", "average"):
            raise _validation.invalid("pool_type", '"max" or "average"', pool_type)
        self.pool_type = pool_type
        self.batch_norm = batch_norm

    def get_config(self):
        return {**super().get_config(), "pool_type": self.pool_type,
                "batch_norm": self.batch_norm}

    def build(self, input_shape):
        if self.batch_norm:
            self.bn = self._batch_norm("bn")
            self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        # Windows centred on the input pixels at multiples of the stride (as DARTS' padding
        # 1); padding never counts: max pools pad with the lowest value, average pools
        # divide by the window's valid pixels (count_include_pad=False).
        if self.pool_type == "max" and self.stride == 1:
            x = tf.nn.max_pool2d(inputs, 3, 1, "SAME")
        elif self.pool_type == "max":  # (XLA has no explicit padding for pools: pad first)
            padded = tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]],
                            constant_values=inputs.dtype.min)
            x = tf.nn.max_pool2d(padded, 3, 2, "VALID")
        else:
            x = tf.nn.avg_pool2d(inputs, 3, 1, "SAME")
            if self.stride == 2:  # TF's average pool has no explicit padding: subsample
                x = _subgrids(_pad_to_multiple(x, 2), 2)[0]
        return self.bn(x, training=training) if self.batch_norm else x


@keras.saving.register_keras_serializable(package="egs_keras")
class Identity(_Operation):
    """Returns its input (`skip_connect` at stride 1)."""

    def call(self, inputs, training=None):
        return inputs


@keras.saving.register_keras_serializable(package="egs_keras")
class FactorizedReduce(_Operation):
    """Halves the resolution without losing pixels: ReLU, two offset stride-2 1×1 convolutions
    of `filters // 2` channels each (even pixels, odd pixels), concatenated, batch norm
    (`skip_connect` at stride 2).

    The even and odd pixels come from one `SpaceToBatchND` split four ways (slices by steps
    of 2 have slow gradients on CPU).
    """

    def build(self, input_shape):
        half = self.filters // 2
        self.kernel_a = _kernel(self, "kernel_a", (1, 1, input_shape[-1], half))
        self.kernel_b = _kernel(self, "kernel_b", (1, 1, input_shape[-1], self.filters - half))
        self.bn = self._batch_norm("bn")
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        # Odd sides: the odd pixels' branch reads one zero past the last row/column.
        even, _, _, odd = _subgrids(_pad_to_multiple(tf.nn.relu(inputs), 2), 2)
        y = tf.concat([tf.nn.conv2d(even, self.kernel_a, 1, "VALID"),
                       tf.nn.conv2d(odd, self.kernel_b, 1, "VALID")], axis=-1)
        return self.bn(y, training=training)


@keras.saving.register_keras_serializable(package="egs_keras")
class Zero(_Operation):
    """Outputs zeros of the strided shape (`none`)."""

    def call(self, inputs, training=None):
        return tf.zeros_like(inputs[:, :: self.stride, :: self.stride])


@register_operation("none")
def _none(filters, stride, search=False):
    return Zero(filters, stride, **search_options(search))


@register_operation("max_pool_3x3")
def _max_pool(filters, stride, search=False):
    return Pooling(filters, stride, pool_type="max", batch_norm=search, **search_options(search))


@register_operation("avg_pool_3x3")
def _avg_pool(filters, stride, search=False):
    return Pooling(filters, stride, pool_type="average", batch_norm=search,
                   **search_options(search))


@register_operation("skip_connect")
def _skip_connect(filters, stride, search=False):
    if stride == 1:
        return Identity(filters, stride, **search_options(search))
    return FactorizedReduce(filters, stride, **search_options(search))


def _register_conv(name, kernel_size, dilation_rate, repeats):
    def factory(filters, stride, search=False):
        return DilConv(filters, kernel_size, stride, dilation_rate=dilation_rate,
                       repeats=repeats, **search_options(search))

    register_operation(name)(factory)


for _size in (3, 5):
    _register_conv(f"sep_conv_{_size}x{_size}", _size, dilation_rate=1, repeats=2)
    _register_conv(f"dil_conv_{_size}x{_size}", _size, dilation_rate=2, repeats=1)
