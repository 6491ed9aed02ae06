"""Losses the package's models are compiled with, registered with Keras when `egs_keras` is
imported, so that a `.keras` file saved with one loads in any process that imports the
package.

>>> loss = SparseCategoricalCrossentropyWithSmoothing(num_classes=10, label_smoothing=0.1)
>>> model.compile(optimizer="sgd", loss=loss)                       # doctest: +SKIP
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="egs_keras")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy of integer labels against logits, with label smoothing ε: the target puts
    1 − ε on the label and ε / K on every class (ImageNet training in DARTS uses ε = 0.1)."""

    def __init__(self, num_classes, label_smoothing=0.0, name="smoothed_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), self.num_classes)
        labels = labels * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        return keras.losses.categorical_crossentropy(labels, y_pred, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing}
