import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras.models.one_level_steps import OneLevelSteps


class CountingModel(OneLevelSteps, keras.Model):
    """A linear model that counts its training steps."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)
        self.steps = keras.Variable(0, dtype="int64", trainable=False)

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        self.steps.assign_add(1)
        return super().train_step(data)


def _data(rows=10):
    x = np.random.default_rng(0).normal(size=(rows, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


def _nested_calls(function, iterator):
    """The function-call ops in the compiled iterator step's graph."""
    graph = function.on_iterator.get_concrete_function(iterator).graph
    return [op.type for op in graph.get_operations()
            if op.type in ("PartitionedCall", "StatefulPartitionedCall")]


def test_fit_runs_every_batch_of_a_finite_dataset_in_one_compiled_function():
    x, y = _data()
    model = CountingModel()
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)  # 3 batches, the last short
    history = model.fit(dataset, epochs=3, verbose=0)
    assert int(model.steps.numpy()) == 9 and len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(model.evaluate(dataset, verbose=0),
                               float(tf.reduce_mean((model(x) - y) ** 2)), rtol=1e-5)
    iterator = iter(dataset)
    assert _nested_calls(model.train_function, iterator) == []
    assert _nested_calls(model.test_function, iterator) == []


def test_on_batch_methods_and_keras_own_functions_where_one_level_does_not_apply():
    x, y = _data(8)
    model = CountingModel()
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss) and int(model.steps.numpy()) == 1
    assert np.isfinite(model.test_on_batch(x, y))
    for options in ({"steps_per_execution": 2}, {"jit_compile": True}, {"run_eagerly": True}):
        other = CountingModel()
        other.compile(keras.optimizers.SGD(0.1), loss="mse", **options)
        other.fit(x, y, batch_size=4, epochs=2, verbose=0)
        assert int(other.steps.numpy()) == 4, options
        assert not other._one_level_applies()


@pytest.mark.parametrize("steps_per_epoch", [None, 2])
def test_fit_with_validation_and_steps_per_epoch(steps_per_epoch):
    x, y = _data(12)
    model = CountingModel()
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    history = model.fit(train.repeat() if steps_per_epoch else train, validation_data=train,
                        epochs=2, steps_per_epoch=steps_per_epoch, verbose=0)
    assert int(model.steps.numpy()) == 2 * (steps_per_epoch or 3)
    assert len(history.history["val_loss"]) == 2
