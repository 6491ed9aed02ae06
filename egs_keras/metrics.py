"""Metrics: `Perplexity` of a language model, `SegmentationIoU` of a segmenter."""

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


@keras.saving.register_keras_serializable(package="egs_keras")
class SegmentationIoU(keras.metrics.MeanIoU):
    """Intersection over union per class and their mean, from one confusion matrix of every
    pixel seen since the last reset (pixels labelled `ignore_class` do not count).

    `result()` is a dict, so Keras logs every entry: `mean_iou` and `iou_<class name>`. The
    mean is over the classes that occur in the labels or the predictions (as VOC's devkit);
    a class absent from both has IoU 0 and is left out of the mean.

    Args:
        class_names: one name per class (its index is the label).
        ignore_class: label of pixels to ignore (VOC: 255), or None.
        name, dtype: as for any Keras metric.

    Example:

    >>> metric = SegmentationIoU(["background", "disk"])
    >>> metric.update_state([[0, 1, 1, 255]], tf.one_hot([[0, 1, 0, 0]], 2))
    >>> {k: round(float(v), 2) for k, v in metric.result().items()}
    {'mean_iou': 0.5, 'iou_background': 0.5, 'iou_disk': 0.5}
    """

    def __init__(self, class_names, ignore_class=255, name="segmentation_iou", dtype=None):
        super().__init__(num_classes=len(class_names), ignore_class=ignore_class,
                         sparse_y_pred=False, name=name, dtype=dtype)
        self.class_names = [str(c) for c in class_names]

    def get_config(self):
        return {"class_names": self.class_names, "ignore_class": self.ignore_class,
                "name": self.name, "dtype": self.dtype}

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = tf.cast(y_true, tf.int32), tf.convert_to_tensor(y_pred)
        if y_true.shape.rank == y_pred.shape.rank:  # [..., 1] labels
            y_true = tf.squeeze(y_true, axis=-1)
        return super().update_state(y_true, y_pred, sample_weight)

    def per_class(self):
        """IoU of each class, and whether it occurred (in labels or predictions)."""
        matrix = tf.cast(self.total_cm, tf.float64)
        true_positives = tf.linalg.diag_part(matrix)
        union = tf.reduce_sum(matrix, 0) + tf.reduce_sum(matrix, 1) - true_positives
        return tf.math.divide_no_nan(true_positives, union), union > 0

    def result(self):
        iou, present = self.per_class()
        mean = tf.math.divide_no_nan(tf.reduce_sum(tf.where(present, iou, 0.0)),
                                     tf.reduce_sum(tf.cast(present, tf.float64)))
        results = {"mean_iou": mean}
        results.update({f"iou_{name}": iou[i] for i, name in enumerate(self.class_names)})
        return {k: tf.cast(v, tf.float32) for k, v in results.items()}
