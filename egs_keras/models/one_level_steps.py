"""Keras' train and test functions compiled as one `tf.function` instead of two nested ones.

Keras 3.15 compiles a training step as a `tf.function` on a batch, called from a second
`tf.function` on the data iterator. For the big graph of a search network the nesting costs
start-up and memory: the inner function's graph becomes a library function, which is inlined
again when the outer one is instantiated (measured on the 8-cell search network: about 2.5 s
of 18 s to the first step, and the memory of a second copy of the graph). `OneLevelSteps`
compiles the iterator step as one function when Keras would run one step per call without
XLA; otherwise (`steps_per_execution > 1`, `jit_compile=True`, `run_eagerly=True`) Keras'
own functions run. The step itself (`train_step`, `test_step`, `tf.distribute`, the
reduction of the logs) is Keras'.

Usage: `class MyModel(OneLevelSteps, keras.Model)`.
"""

import keras
import tensorflow as tf

from egs_keras import _compat


class OneLevelSteps:
    """Mixin for `keras.Model` subclasses: one-level compiled train and test functions."""

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        if not self._one_level_applies():
            return super().make_train_function(force)
        self.train_function = self._one_level_function(self.train_step)
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is not None and not force:
            return self.test_function
        if not self._one_level_applies():
            return super().make_test_function(force)
        self.test_function = self._one_level_function(self.test_step)
        return self.test_function

    def _one_level_applies(self):
        return (keras.backend.backend() == "tensorflow" and not self.run_eagerly
                and not self.jit_compile and self.steps_per_execution == 1)

    def _one_level_function(self, step_function):
        strategy = self.distribute_strategy

        def one_step(data):
            # Elements a generator left empty arrive as empty Optionals; steps expect None.
            data = keras.tree.map_structure(
                lambda x: None if isinstance(x, tf.experimental.Optional) else x, data)
            outputs = strategy.run(step_function, args=(data,))
            return _compat.reduce_per_replica(outputs, strategy, reduction="auto")

        # The end of the data raises OutOfRangeError, which Keras' epoch iterator turns into
        # the end of the epoch (as it does for its own functions). No AutoGraph, as Keras:
        # steps are traced as written (converting them costs seconds on big networks).
        on_iterator = tf.function(lambda iterator: one_step(iterator.get_next()),
                                  reduce_retracing=True, autograph=False)
        on_batch = tf.function(one_step, reduce_retracing=True, autograph=False)

        def function(iterator):
            if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
                return on_iterator(iterator)
            outputs = None
            for data in iterator:  # train_on_batch / test_on_batch: an iterable of one batch
                outputs = on_batch(data)
            return outputs

        function.on_iterator = on_iterator  # the compiled step, for inspection
        return function
