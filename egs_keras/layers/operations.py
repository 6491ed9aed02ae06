"""Candidate operations of the DARTS CNN search space, registered by name and stride-aware (their
base and call conventions are in `candidate_operation`, their batch norm in `batch_norm`).

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

The built-in operations have a functional form that search cells use: `kernel_shapes` describes
an operation's kernels, `call(..., kernels=...)` takes them as tensors (an `EGSCell` keeps the
kernels of all its edges in one variable per operation and kernel, see `get_operation(...,
own_kernels=False)`), and `call(..., output_scale=s)` returns `s · output` with `s` folded into
the last batch norm's scale (a mixed edge's code entry without a multiply of its own).
"""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras.layers.candidate_operation import Operation
from egs_keras.layers.candidate_operation import takes_kernels

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


def get_operation(name, filters, stride=1, search=False, layer_name=None, own_kernels=True):
    """Builds operation `name` for `filters` channels, `stride` 1 or 2, search or evaluation.

    With `own_kernels=False`, an operation with a functional form (`takes_kernels`) creates
    no kernels of its own and must be called with `kernels=` (tensors of `kernel_shapes`);
    other operations keep their weights.
    """
    check_operation_names([name])
    filters = _validation.check_positive_int("filters", filters)
    if stride not in (1, 2):
        raise _validation.invalid("stride", "1 or 2", stride)
    layer = _REGISTRY[name](filters, stride, search=search)
    if layer_name:
        layer.name = layer_name
    if not own_kernels and takes_kernels(layer):
        layer.own_kernels = False
    return layer


@keras.saving.register_keras_serializable(package="egs_keras")
class ReLUConvBN(Operation):
    """ReLU → convolution `kernel_size` × `kernel_size` → batch norm (used to preprocess inputs)."""

    def __init__(self, filters, kernel_size=1, stride=1, **kwargs):
        super().__init__(filters, stride, **kwargs)
        self.kernel_size = kernel_size

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}

    def kernel_shapes(self, input_shape):
        size = self.kernel_size
        return {"kernel": (size, size, input_shape[-1], self.filters)}

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel = self._build_kernels(input_shape).get("kernel")
        self.bn = self._batch_norm("bn")
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None, kernels=None, output_scale=None):
        kernel = self._kernels(kernels, {"kernel": self.kernel})["kernel"]
        x = tf.nn.conv2d(tf.nn.relu(inputs), kernel, self.stride, "SAME")
        return self.bn(x, training=training, output_scale=output_scale)


@keras.saving.register_keras_serializable(package="egs_keras")
class DilConv(Operation):
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

    def kernel_shapes(self, input_shape):
        size, channels, shapes = self.kernel_size, input_shape[-1], {}
        for r in range(self.repeats):
            shapes[f"depthwise_{r}"] = (size, size, channels, 1)
            shapes[f"pointwise_{r}"] = (1, 1, channels, self.filters)
            channels = self.filters
        return shapes

    def build(self, input_shape):
        super().build(input_shape)
        own = self._build_kernels(input_shape)
        self.depthwise = [own[f"depthwise_{r}"] for r in range(self.repeats) if own]
        self.pointwise = [own[f"pointwise_{r}"] for r in range(self.repeats) if own]
        self.bns = []
        for r in range(self.repeats):
            bn = self._batch_norm(f"bn_{r}")
            bn.build(tuple(input_shape[:-1]) + (self.filters,))
            self.bns.append(bn)
        rate = self.dilation_rate
        # Sub-grid form of a stride-1 dilated convolution needs sides divisible by the rate.
        self._sides_divisible = rate > 1 and self.stride == 1 and all(
            d is not None and d % rate == 0 for d in input_shape[1:3])

    def call(self, inputs, training=None, kernels=None, output_scale=None):
        own = {f"{kind}_{r}": getattr(self, kind)[r] for kind in ("depthwise", "pointwise")
               for r in range(len(self.depthwise))}
        kernels = self._kernels(kernels, own)
        x = inputs
        for r in range(self.repeats):
            stride = self.stride if r == 0 else 1
            x = self._depthwise(tf.nn.relu(x), kernels[f"depthwise_{r}"], stride, training)
            x = self.bns[r](tf.nn.conv2d(x, kernels[f"pointwise_{r}"], 1, "SAME"),
                            training=training,
                            output_scale=output_scale if r == self.repeats - 1 else None)
        return x

    def _depthwise(self, x, kernel, stride, training):
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
            return undilated(_subgrids(x, rate, [(0, 0)], training)[0], 1)
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


def _subgrids(images, step, corners, training):
    """The interleaved sub-grids `images[:, a::step, b::step]` for each (a, b) in `corners`
    (sides first zero-padded to multiples of `step`). Training takes them from one
    `SpaceToBatchND` split step² ways (strided slices' gradients are slow on CPU); inference
    as strided slices (an int8 LiteRT file keeps them integer; a split with unused outputs
    stays float)."""
    images = _pad_to_multiple(images, step)
    if training:
        blocks = tf.split(tf.space_to_batch_nd(images, [step, step], [[0, 0], [0, 0]]),
                          step * step)
        return [blocks[a * step + b] for a, b in corners]
    return [images[:, a::step, b::step] for a, b in corners]


def _max_pool_centred(images, training):
    """3×3 max pool at stride 2 whose output i is centred on input 2i, padding never counting
    (DARTS' padding 1 with -inf; XLA has no explicit padding for pools, so pad first).

    Training pads with the dtype's lowest value; inference repeats the border pixels, which
    every window reaching the padding holds anyway: the same values, but an int8 LiteRT file
    keeps its scale (a dtype.min pad stretched it to 1e36) and LiteRT runs the concatenations
    15× faster than a mirror pad. (Training keeps the pad: slices' gradients are slow on CPU.)
    """
    if training:
        padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]],
                        constant_values=images.dtype.min)
    else:
        padded = tf.concat([images[:, :1], images, images[:, -1:]], axis=1)
        padded = tf.concat([padded[:, :, :1], padded, padded[:, :, -1:]], axis=2)
    return tf.nn.max_pool2d(padded, 3, 2, "VALID")


@keras.saving.register_keras_serializable(package="egs_keras")
class Pooling(Operation):
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
        super().build(input_shape)
        if self.batch_norm:
            self.bn = self._batch_norm("bn")
            self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None, kernels=None, output_scale=None):
        del kernels  # none
        # Windows centred on the input pixels at multiples of the stride (as DARTS' padding
        # 1); padding never counts: average pools divide by the window's valid pixels
        # (count_include_pad=False), max pools take the max of the valid ones.
        if self.pool_type == "max" and self.stride == 1:
            x = tf.nn.max_pool2d(inputs, 3, 1, "SAME")
        elif self.pool_type == "max":
            x = _max_pool_centred(inputs, training)
        else:
            x = tf.nn.avg_pool2d(inputs, 3, 1, "SAME")
            if self.stride == 2:  # TF's average pool has no explicit padding: subsample
                x = _subgrids(x, 2, [(0, 0)], training)[0]
        if self.batch_norm:
            return self.bn(x, training=training, output_scale=output_scale)
        return x if output_scale is None else tf.cast(output_scale, x.dtype) * x


@keras.saving.register_keras_serializable(package="egs_keras")
class Identity(Operation):
    """Returns its input (`skip_connect` at stride 1)."""

    def call(self, inputs, training=None, kernels=None, output_scale=None):
        del kernels  # none
        return inputs if output_scale is None else tf.cast(output_scale, inputs.dtype) * inputs


@keras.saving.register_keras_serializable(package="egs_keras")
class FactorizedReduce(Operation):
    """Halves the resolution without losing pixels: ReLU, two offset stride-2 1×1 convolutions
    of `filters // 2` channels each (even pixels, odd pixels), concatenated, batch norm
    (`skip_connect` at stride 2).

    The even and odd pixels come from one `SpaceToBatchND` split four ways (slices by steps
    of 2 have slow gradients on CPU).
    """

    def kernel_shapes(self, input_shape):
        half = self.filters // 2
        return {"kernel_a": (1, 1, input_shape[-1], half),
                "kernel_b": (1, 1, input_shape[-1], self.filters - half)}

    def build(self, input_shape):
        super().build(input_shape)
        own = self._build_kernels(input_shape)
        self.kernel_a, self.kernel_b = own.get("kernel_a"), own.get("kernel_b")
        self.bn = self._batch_norm("bn")
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None, kernels=None, output_scale=None):
        kernels = self._kernels(kernels, {"kernel_a": self.kernel_a, "kernel_b": self.kernel_b})
        # Odd sides: the odd pixels' branch reads one zero past the last row/column.
        even, odd = _subgrids(tf.nn.relu(inputs), 2, [(0, 0), (1, 1)], training)
        y = tf.concat([tf.nn.conv2d(even, kernels["kernel_a"], 1, "VALID"),
                       tf.nn.conv2d(odd, kernels["kernel_b"], 1, "VALID")], axis=-1)
        return self.bn(y, training=training, output_scale=output_scale)


@keras.saving.register_keras_serializable(package="egs_keras")
class Zero(Operation):
    """Outputs zeros of the strided shape (`none`)."""

    def call(self, inputs, training=None, kernels=None, output_scale=None):
        del kernels, output_scale  # zeros, scaled or not
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
