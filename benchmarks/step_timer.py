"""A Keras callback that records the wall time of every training step (benchmarks only)."""

import time

import keras


class StepTimer(keras.callbacks.Callback):
    """`times`: seconds of each `fit` step, the first one (tracing included) first."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.begin)
