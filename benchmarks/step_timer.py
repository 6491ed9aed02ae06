"""A Keras callback that records the wall time of every training step (benchmarks only)."""

import time


def step_timer():
    """A callback whose `times` holds the seconds of each `fit` step, the first one (tracing
    included) first. Keras is imported here, in the measuring process only."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.begin = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self.begin)

    return StepTimer()
