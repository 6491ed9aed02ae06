"""The saved-file format: files written by an earlier egs_keras (commit dfad110; see
tests/data/saved_before_runs_move/generate.py) still load with today's code: `.keras` models
(registered names: the smoothed loss moved module, its name did not), a training run's
checkpoints (checkpoint keys: export rebuilds the network and serves what the old export
served) and the old SavedModel."""

import pathlib
import shutil

import keras
import numpy as np
import tensorflow as tf

from egs_keras import losses
from egs_keras import runs

SAVED = pathlib.Path(__file__).parents[1] / "data" / "saved_before_runs_move"
IMAGES = np.random.default_rng(0).uniform(0, 16, (4, 8, 8, 1)).astype("float32")


def test_keras_files_load_with_their_custom_loss_and_architecture():
    evaluation = keras.models.load_model(SAVED / "evaluation.keras")
    assert isinstance(evaluation.loss, losses.SparseCategoricalCrossentropyWithSmoothing)
    assert evaluation.loss.label_smoothing == 0.1
    search = keras.models.load_model(SAVED / "search.keras")
    assert search.genotype().kind == "cnn" and search.arch_optimizer is not None


def test_an_old_training_run_exports_what_its_old_export_served(tmp_path):
    train = tmp_path / "train"
    shutil.copytree(SAVED / "train", train)
    run = runs.load_training_run(train)
    evaluation = keras.models.load_model(SAVED / "evaluation.keras")
    np.testing.assert_allclose(run.model.predict(IMAGES, verbose=0),
                               evaluation.predict(IMAGES, verbose=0), rtol=1e-5, atol=1e-5)

    new = tf.saved_model.load(str(runs.export_training_run(train, tmp_path / "export")))
    old = tf.saved_model.load(str(SAVED / "export" / "1"))
    served = [m.signatures["serving_default"](images=tf.constant(IMAGES)) for m in (new, old)]
    assert sorted(served[0]) == sorted(served[1])
    for name in served[0]:
        np.testing.assert_allclose(served[0][name].numpy(), served[1][name].numpy(),
                                   rtol=1e-5, atol=1e-5, err_msg=name)
