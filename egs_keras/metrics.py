"""Metrics: `Perplexity` of a language model."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="egs_keras")
class Perplexity(keras.metrics.Metric):
    """exp(mean cross-entropy per token) over everything seen since the last reset.

    Tokens are weighted by `sample_weight` (e.g. 0 for padding), and the mean is taken over
    all tokens of all batches, not over batches, so the value does not depend on how a text
    was cut into batches.

    Args:
        from_logits: whether predictions are logits (True) or probabilities.
        name, dtype: as for any Keras metric.

    Example:

    >>> metric = Perplexity()
    >>> metric.update_state([[1, 2]], tf.zeros([1, 2, 4]))   # uniform over 4 words
    >>> round(float(metric.result()), 4)
    4.0
    """

    def __init__(self, from_logits=True, name="perplexity", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total",
                                       dtype="float64")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count",
                                       dtype="float64")

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}

    def update_state(self, y_true, y_pred, sample_weight=None):
        losses = keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=self.from_logits)
        losses = tf.cast(losses, tf.float64)
        weights = (tf.ones_like(losses) if sample_weight is None
                   else tf.broadcast_to(tf.cast(sample_weight, tf.float64), tf.shape(losses)))
        self.total.assign_add(tf.reduce_sum(losses * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self):
        return tf.cast(tf.exp(self.total / tf.maximum(self.count, 1.0)), self.dtype)
