"""Batch normalisation as one fused op, with optional scale/offset and running statistics: the
batch norm of every candidate operation, stem and head.

Its training form records its gradient for the normalised output only, and its constants are
made once per graph; both keep big search graphs small (graph size is start-up time).

>>> bn = BatchNorm(affine=False, track_statistics=False)
>>> bn(tf.constant([[1.0], [3.0]]), training=True).numpy().round(2).ravel().tolist()
[-1.0, 1.0]
"""

import weakref

import keras
import tensorflow as tf

from egs_keras._compat import record  # the tape's recording API (see _compat)


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
            # float32 under mixed precision too: the fused op takes float32 parameters.
            self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones",
                                         autocast=False)
            self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros",
                                        autocast=False)
        if self.track_statistics:
            # "mean": under tf.distribute each replica's update is averaged over all replicas
            # (and workers), so every copy holds the statistics of the global batch.
            self.moving_mean = self.add_weight(
                name="moving_mean", shape=(channels,), initializer="zeros", trainable=False,
                aggregation="mean", autocast=False)
            self.moving_variance = self.add_weight(
                name="moving_variance", shape=(channels,), initializer="ones", trainable=False,
                aggregation="mean", autocast=False)

    def call(self, inputs, training=None, output_scale=None):
        """`output_scale` (a scalar) multiplies the output, folded into the scale and offset."""
        channels = inputs.shape[-1]
        if self.affine:
            scale, offset = self.gamma, self.beta
            if output_scale is not None:
                output_scale = tf.cast(output_scale, scale.dtype)
                scale, offset = scale * output_scale, offset * output_scale
        else:
            scale, offset = _graph_constants(channels)
            if output_scale is not None:
                scale = tf.fill(_graph_constants(channels, "shape"),
                                tf.cast(output_scale, tf.float32))
        if self.track_statistics and not training:
            return tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset, mean=self.moving_mean,
                variance=self.moving_variance, epsilon=self.epsilon, is_training=False)[0]
        outputs, mean, variance = _batch_norm_training(inputs, scale, offset, self.epsilon)
        if self.track_statistics:
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(
                self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


def _batch_norm_training(inputs, scale, offset, epsilon):
    """(outputs, batch mean, batch variance) of a fused batch norm on batch statistics, its
    gradient recorded for `outputs` only. TensorFlow's tape would build a zero tensor for
    each other output of `FusedBatchNormV3` that gets no gradient (five per batch norm,
    ~4,000 unused ops in a search network's graph), since it knows only the old
    `FusedBatchNorm` to ignore them."""
    empty = _graph_constants(0)[0]
    scale, offset = tf.convert_to_tensor(scale), tf.convert_to_tensor(offset)  # reads recorded
    with record.stop_recording():
        outputs, mean, variance, reserve_1, reserve_2, reserve_3 = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=scale, offset=offset, mean=empty, variance=empty, epsilon=epsilon,
            is_training=True)

    def backward(upstream):
        return tf.raw_ops.FusedBatchNormGradV3(
            y_backprop=upstream, x=inputs, scale=scale, reserve_space_1=reserve_1,
            reserve_space_2=reserve_2, reserve_space_3=reserve_3, epsilon=epsilon,
            is_training=True)[:3]

    record.record_operation("FusedBatchNormV3", [outputs], [inputs, scale, offset], backward)
    return outputs, mean, variance


_EAGER_CONSTANTS = {}
_GRAPH_CONSTANTS = weakref.WeakKeyDictionary()


def _graph_constants(channels, kind="scale_offset"):
    """(ones, zeros) float32 of length `channels` ("scale_offset"), or the shape `[channels]`
    ("shape"), created once per graph: an eager tensor would become a new constant op at
    every use, and a search graph has ~1,000 batch norms (graph size is start-up time)."""
    if tf.executing_eagerly():
        cache = _EAGER_CONSTANTS
    else:
        cache = _GRAPH_CONSTANTS.setdefault(tf.compat.v1.get_default_graph(), {})
    # Per replica of a `tf.distribute` step: each uses constants on its own device.
    key = (channels, kind, id(tf.distribute.get_replica_context()))
    if key not in cache:
        # No control inputs: a constant made under a gated part of the graph (see `gating`)
        # would be dead wherever it is reused.
        with tf.control_dependencies(None):
            if kind == "shape":
                cache[key] = tf.constant([channels], tf.int32)
            else:
                cache[key] = (tf.ones([channels]), tf.zeros([channels]))
    return cache[key]
