"""The run loop every run goes through: build → restore → fit the remaining epochs → finish,
resumed from the last checkpoint, and a finished run only finishes."""

import keras
import numpy as np
import tensorflow as tf

from egs_keras.training import run_loop
from egs_keras.training.workdir import Workdir


def _data():
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    return x, (x.sum(axis=1, keepdims=True) > 0).astype("float32")


def _loop(path, epochs, finished):
    x, y = _data()
    built, started = [], []

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        built.append(model)
        return model

    def batches(initial_epoch):
        started.append(initial_epoch)
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat(), 4

    with Workdir.open(path) as workdir:
        result = run_loop.run(workdir, seed=0, graph_optimizer=False, epochs=epochs,
                              build=build, batches=batches,
                              finish=lambda model: finished.append(model) or "done")
    return result, built[0], started


def test_a_run_fits_resumes_where_it_stopped_and_a_finished_run_only_finishes(tmp_path):
    finished = []
    assert _loop(tmp_path, 2, finished)[0] == "done"
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert len(history) == 3  # header and two epochs
    result, model, started = _loop(tmp_path, 3, finished)  # one more epoch asked for
    assert started == [2] and len((tmp_path / "history.csv").read_text().splitlines()) == 4
    weights = [w.numpy() for w in model.weights]
    result, again, started = _loop(tmp_path, 3, finished)  # finished: restore, then finish
    assert started == [] and result == "done" and len(finished) == 3
    for ours, theirs in zip(weights, again.weights, strict=True):
        np.testing.assert_array_equal(ours, theirs.numpy())


def test_the_seed_decides_the_initial_weights(tmp_path):
    first = _loop(tmp_path / "a", 0, [])[1]
    second = _loop(tmp_path / "b", 0, [])[1]
    for ours, theirs in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
