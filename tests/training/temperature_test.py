import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras.layers import EnsembleGumbelSoftmax
from egs_keras.training import ExponentialAnnealing
from egs_keras.training import LinearAnnealing
from egs_keras.training import TemperatureScheduler


def test_linear_annealing_values_and_clamping():
    schedule = LinearAnnealing(start=5.0, end=1.0, num_steps=4)
    assert [schedule(s) for s in [-1, 0, 1, 2, 4, 100]] == [5.0, 5.0, 4.0, 3.0, 1.0, 1.0]
    assert LinearAnnealing(**schedule.get_config())(2) == 3.0


def test_exponential_annealing_is_geometric():
    schedule = ExponentialAnnealing(start=8.0, end=1.0, num_steps=3)
    np.testing.assert_allclose([schedule(s) for s in range(5)], [8.0, 4.0, 2.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(start=0.0, end=1.0, num_steps=2), "start"), (dict(start=1.0, end=-1, num_steps=2),
                                                      "end"),
     (dict(start=1.0, end=1.0, num_steps=0), "num_steps")],
)
def test_schedules_reject_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        LinearAnnealing(**kwargs)


class TracedEGS(EnsembleGumbelSoftmax):
    """Counts how often `call` runs in Python, i.e. how often a step is traced."""

    traces = 0

    def call(self, inputs=None, training=None):
        TracedEGS.traces += 1
        return super().call(inputs, training)


def _soft_model(jit_compile, seed=0):
    """A model whose output depends on τ only: the soft relaxation of fixed logits."""
    inputs = keras.Input((1,))
    layer = TracedEGS(num_samples=4, logits_shape=(8,), hard=False, seed=seed,
                                  name="egs")
    model = keras.Model(inputs, layer(inputs))
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    return model, layer


def test_schedule_changes_the_compiled_xla_step_without_retracing():
    model, layer = _soft_model(jit_compile=True)
    traces = []

    class CountTraces(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            traces.append(TracedEGS.traces)

    x, y = np.zeros((512, 1), "float32"), np.zeros((512, 8), "float32")
    scheduler = TemperatureScheduler(LinearAnnealing(8.0, 0.5, num_steps=3))
    history = model.fit(x, y, batch_size=128, epochs=4, verbose=0,
                        callbacks=[scheduler, CountTraces()])
    np.testing.assert_allclose(history.history["temperature"], [8.0, 5.5, 3.0, 0.5])
    # mean(soft²) grows as τ falls (samples sharpen toward one-hot): the compiled step saw τ.
    losses = history.history["loss"]
    assert all(b > a * 1.05 for a, b in zip(losses, losses[1:], strict=False)), losses
    assert len(set(traces)) == 1, traces  # τ is a variable: no retracing per value
    assert float(layer.temperature_variable.numpy()) == 0.5


def test_temperature_reaches_a_jit_compiled_function_directly():
    layer = EnsembleGumbelSoftmax(num_samples=3, logits_shape=(5,), hard=False, seed=1)
    layer.build()
    step = tf.function(lambda: layer(training=True), jit_compile=True)
    layer.set_temperature(10.0)
    warm = step().numpy()
    traced = step.experimental_get_tracing_count()
    layer.set_temperature(0.05)
    cold = step().numpy()
    assert step.experimental_get_tracing_count() == traced
    assert warm.max() < 0.5 and np.sort(cold)[-1] > 0.99


def test_step_mode_follows_the_optimizer_iterations():
    model, layer = _soft_model(jit_compile=False)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(layer.temperature_variable.numpy()))

    scheduler = TemperatureScheduler(ExponentialAnnealing(16.0, 1.0, num_steps=4),
                                     update_every="step")
    model.fit(np.zeros((6, 1)), np.zeros((6, 8)), batch_size=2, epochs=2, verbose=0,
              callbacks=[scheduler, Record()])
    np.testing.assert_allclose(seen, [16.0, 8.0, 4.0, 2.0, 1.0, 1.0])


def test_scheduler_errors_are_clear():
    with pytest.raises(ValueError, match="`schedule`, expected a callable"):
        TemperatureScheduler(5.0)
    with pytest.raises(ValueError, match="`update_every`"):
        TemperatureScheduler(LinearAnnealing(2.0, 1.0, 2), update_every="batch")
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="found no layer with a `temperature_variable`"):
        model.fit(np.zeros((2, 2)), np.zeros((2, 1)), verbose=0,
                  callbacks=[TemperatureScheduler(LinearAnnealing(2.0, 1.0, 2))])
    model, _ = _soft_model(jit_compile=False)
    with pytest.raises(ValueError, match="`temperature`, expected a finite number greater"):
        model.fit(np.zeros((2, 1)), np.zeros((2, 8)), verbose=0,
                  callbacks=[TemperatureScheduler(lambda step: 0.0)])
