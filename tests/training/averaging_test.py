import keras
import numpy as np
import pytest

from egs_keras.training.averaging import WeightAveraging
from egs_keras.training.checkpointing import RunCheckpoint


def _model(seed=0):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer=
                                                                    keras.initializers.Constant(
                                                                        0.5 + seed))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


def test_averaging_starts_when_the_loss_is_worse_than_the_best_older_than_patience():
    averaging = WeightAveraging(_model(), patience=2)
    started = []
    for epoch, loss in enumerate([5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 3.05]):
        logs = {"val_loss": loss}
        averaging.on_epoch_end(epoch, logs)
        started.append(logs["averaging"])
    # Epoch 5: 3.1 > min(5, 4, 3) = 3, the best of the epochs before the last two.
    assert started == [0, 0, 0, 0, 0, 1, 1]


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([np.array(w) for w in self.model.get_weights()])


def test_the_model_ends_with_the_mean_of_the_weights_after_every_averaged_step():
    model = _model()
    averaging = WeightAveraging(model, patience=1)
    averaging.active.assign(True)
    recorder = _Recorder()
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[recorder, averaging])
    assert len(recorder.seen) == 8
    for weight, steps in zip(model.get_weights(), zip(*recorder.seen, strict=True),
                             strict=True):
        np.testing.assert_allclose(weight, np.mean(steps, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.get_weights()[0], recorder.seen[-1][0])


def test_validation_sees_the_mean_and_training_continues_from_the_raw_weights():
    model = _model()
    averaging = WeightAveraging(model, patience=1)
    averaging.active.assign(True)
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[averaging])
    raw = [np.array(v) for v in averaging.weights]  # pretend: weights before a validation
    averaging._copy(averaging.weights, [v + 1.0 for v in raw])
    averaging.on_test_begin()
    np.testing.assert_allclose(model.get_weights()[0], np.array(averaging.averages[0]))
    averaging.on_test_end()
    np.testing.assert_allclose(model.get_weights()[0], raw[0] + 1.0)


def test_the_averaging_state_is_saved_and_restored_with_the_run(tmp_path):
    model = _model()
    averaging = WeightAveraging(model, patience=3)
    averaging.active.assign(True)
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[averaging])
    RunCheckpoint(tmp_path, model, extra=averaging.trackables()).save(1)
    other = _model(seed=1)
    restored = WeightAveraging(other, patience=3)
    RunCheckpoint(tmp_path, other, extra=restored.trackables()).restore()
    assert bool(restored.active.numpy()) and float(restored.count.numpy()) == 4.0
    np.testing.assert_allclose(restored.averages[0], averaging.averages[0])


def test_patience_must_be_positive():
    with pytest.raises(ValueError, match="patience"):
        WeightAveraging(_model(), patience=0)
