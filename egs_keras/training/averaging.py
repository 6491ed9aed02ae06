"""`WeightAveraging`: non-monotonically triggered averaged SGD (NT-ASGD), as DARTS trains its
language models (Merity et al., "Regularizing and Optimizing LSTM Language Models", 2017).

>>> averaging = WeightAveraging(model, patience=5)                     # doctest: +SKIP
>>> checkpoint = RunCheckpoint(directory, model, extra=averaging.trackables())  # doctest: +SKIP
>>> model.fit(..., validation_data=valid, callbacks=[averaging, ...])   # doctest: +SKIP
"""

import math

import keras
import tensorflow as tf

from egs_keras import _validation


class WeightAveraging(keras.callbacks.Callback):
    """Plain SGD until the validation loss stops improving, then the running mean of the
    weights.

    At the end of epoch t the averaging starts if the validation loss L_t is worse than the
    best loss of more than `patience` epochs before (L_t > min_{s < t − patience} L_s). From
    then on the mean of the weights after every training step is kept; validation during
    `fit` uses the mean (the raw weights are swapped back for training), and at the end of
    `fit` the model holds the mean. The averages, the trigger state and the step count are
    variables: pass `trackables()` to the run's checkpoint so a resumed run continues them.

    Args:
        model: the model whose trainable weights are averaged.
        patience: the `n` of NT-ASGD (DARTS and AWD-LSTM: 5).
        monitor: the validation loss in the epoch logs.
    """

    def __init__(self, model, patience=5, monitor="val_loss"):
        super().__init__()
        self.patience = _validation.check_positive_int("patience", patience)
        self.monitor = monitor
        self.weights = list(model.trainable_variables)

        def copy(v, name):
            return tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=name)

        self.averages = [copy(v, "average") for v in self.weights]
        self._backup = [copy(v, "backup") for v in self.weights]
        self.count = tf.Variable(0.0, trainable=False, name="averaged_steps")
        self.active = tf.Variable(False, trainable=False, name="averaging")
        self.recent = tf.Variable(tf.fill([self.patience], math.inf), trainable=False,
                                  name="recent_losses")
        self.older_best = tf.Variable(math.inf, trainable=False, name="older_best_loss")
        self._averaging = False

    def trackables(self):
        """The state to checkpoint, as a dict for `RunCheckpoint(extra=...)`."""
        return {"weight_averaging": tf.train.Checkpoint(
            averages=self.averages, count=self.count, active=self.active, recent=self.recent,
            older_best=self.older_best)}

    @tf.function
    def _accumulate(self):
        self.count.assign_add(1.0)
        for average, weight in zip(self.averages, self.weights, strict=True):
            average.assign_add((weight - average) / self.count)

    @staticmethod
    def _copy(targets, sources):
        for target, source in zip(targets, sources, strict=True):
            target.assign(source)

    def on_train_begin(self, logs=None):
        self._averaging = bool(self.active.numpy())  # read once: batches need no host read

    def on_train_batch_end(self, batch, logs=None):
        if self._averaging:
            self._accumulate()

    def on_test_begin(self, logs=None):
        if bool(self.active.numpy()) and self.count.numpy() > 0:
            self._copy(self._backup, self.weights)
            self._copy(self.weights, self.averages)
            self._swapped = True

    def on_test_end(self, logs=None):
        if getattr(self, "_swapped", False):
            self._copy(self.weights, self._backup)
            self._swapped = False

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get(self.monitor)
        if loss is not None and not bool(self.active.numpy()):
            if float(loss) > float(self.older_best.numpy()):
                self.active.assign(True)
                self._averaging = True
            recent = self.recent.numpy()
            self.older_best.assign(min(float(self.older_best.numpy()), float(recent[0])))
            self.recent.assign(tf.concat([recent[1:], [float(loss)]], axis=0))
        if logs is not None:
            logs["averaging"] = float(self.active.numpy())

    def on_train_end(self, logs=None):
        self.apply()

    def apply(self):
        """Puts the averaged weights into the model, if the averaging has started (`fit` does
        this at its end; call it after restoring a finished run)."""
        if bool(self.active.numpy()) and self.count.numpy() > 0:
            self._copy(self.weights, self.averages)
