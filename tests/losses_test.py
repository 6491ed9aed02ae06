"""The smoothed loss: its value against the formula, and a `.keras` file compiled with it
loading in a fresh process that imports only `egs_keras` (issue 30: it was registered in
runs/classification.py, which `import egs_keras` does not load)."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np

from egs_keras import losses

ROOT = pathlib.Path(__file__).parents[1]


def test_the_loss_is_cross_entropy_against_smoothed_targets():
    logits = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    labels = np.array([0, 3, 1, 1, 2])
    loss = losses.SparseCategoricalCrossentropyWithSmoothing(4, label_smoothing=0.2)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = np.full((5, 4), 0.2 / 4) + 0.8 * np.eye(4)[labels]
    np.testing.assert_allclose(float(loss(labels, logits)), -(targets * log_p).sum(-1).mean(),
                               rtol=1e-5)


def test_a_saved_model_with_the_loss_loads_where_only_egs_keras_is_imported(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropyWithSmoothing(
        4, label_smoothing=0.1))
    path = tmp_path / "model.keras"
    model.save(path)
    probe = ("import sys, keras, egs_keras;"
             f"m = keras.models.load_model({str(path)!r});"
             "assert 'egs_keras.runs' not in sys.modules, 'the runs were imported';"
             "print(type(m.loss).__name__, m.loss.label_smoothing)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["SparseCategoricalCrossentropyWithSmoothing", "0.1"]
