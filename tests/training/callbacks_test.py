import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras.models import EGSSearchNetwork
from egs_keras.training import ArchitectureRecorder
from egs_keras.training import CheckpointCallback
from egs_keras.training import NonFiniteError
from egs_keras.training import RunCheckpoint
from egs_keras.training import StopOnNonFinite

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _search_model(learning_rate=0.05):
    model = EGSSearchNetwork(num_classes=2, input_shape=(8, 8, 3), filters=4, num_cells=2,
                             num_nodes=4, num_samples=2, seed=3)
    model.compile(keras.optimizers.SGD(learning_rate, momentum=0.9),
                  arch_optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    return model


def _data(count=32):
    rng = np.random.default_rng(1)
    return rng.normal(size=(count, 8, 8, 3)).astype("float32"), rng.integers(0, 2, count)


def test_checkpoint_restores_weights_alpha_both_optimizers_and_epoch(tmp_path):
    images, labels = _data()
    model = _search_model()
    checkpoint = RunCheckpoint(tmp_path / "ckpt", model)
    model.fit(images, labels, batch_size=8, epochs=2, verbose=0,
              callbacks=[CheckpointCallback(checkpoint)])
    fresh = _search_model()
    restored = RunCheckpoint(tmp_path / "ckpt", fresh)
    assert restored.restore() == 2
    for a, b in zip(model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    for name in ("optimizer", "arch_optimizer"):
        ours, theirs = getattr(model, name), getattr(fresh, name)
        assert int(theirs.iterations) == int(ours.iterations) == 8
        for a, b in zip(ours.variables, theirs.variables, strict=True):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                          keras.ops.convert_to_numpy(b))
    # The EGS sample counters are restored: the next codes are the ones the run would draw.
    counts = [int(m.decisions["normal"].sample_count) for m in (model, fresh)]
    assert counts[0] == counts[1] > 0


def test_a_fresh_directory_starts_at_epoch_zero(tmp_path):
    assert RunCheckpoint(tmp_path / "none", _search_model()).restore() == 0


def test_nan_stops_the_run_and_leaves_the_last_good_checkpoint(tmp_path):
    images, labels = _data()
    model = _search_model()
    checkpoint = RunCheckpoint(tmp_path / "ckpt", model)
    callbacks = [StopOnNonFinite(checkpoint.directory), CheckpointCallback(checkpoint)]
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    good = checkpoint.latest
    poisoned = images.copy()
    poisoned[5] = np.nan
    with pytest.raises(NonFiniteError, match=r"epoch 1, batch 1.*last good checkpoint"):
        model.fit(poisoned, labels, batch_size=8, epochs=1, verbose=0, callbacks=callbacks,
                  shuffle=False)
    assert checkpoint.latest == good
    fresh = _search_model()
    assert RunCheckpoint(tmp_path / "ckpt", fresh).restore() == 1
    assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in fresh.weights)


def test_nan_in_alpha_is_caught_even_with_a_finite_loss(tmp_path):
    images, labels = _data()
    model = _search_model()
    model.decisions["reduce"].logits.assign(tf.fill(model.decisions["reduce"].logits.shape,
                                                    np.nan))
    with pytest.raises(NonFiniteError, match="architecture logits"):
        model.fit(images, labels, batch_size=8, epochs=1, verbose=0,
                  callbacks=[StopOnNonFinite()])


def test_an_epoch_with_non_finite_logits_is_not_checkpointed_even_without_the_guard(tmp_path):
    images, labels = _data()
    model = _search_model()
    checkpoint = RunCheckpoint(tmp_path / "ckpt", model)
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0,
              callbacks=[CheckpointCallback(checkpoint)])
    good = checkpoint.latest
    model.decisions["normal"].logits.assign(tf.fill(model.decisions["normal"].logits.shape,
                                                    np.inf))
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0,
              callbacks=[CheckpointCallback(checkpoint)])
    assert checkpoint.latest == good


def test_architecture_recorder_writes_genotypes_and_images(tmp_path):
    images, labels = _data()
    model = _search_model()
    model.fit(images, labels, batch_size=16, epochs=2, verbose=0,
              callbacks=[ArchitectureRecorder(tmp_path, tmp_path / "logs")])
    saved = sorted((tmp_path / "genotypes").glob("*.json"))
    assert [p.name for p in saved] == ["epoch_0001.json", "epoch_0002.json"]
    assert json.loads(saved[-1].read_text())["kind"] == "cnn"
    events = list((tmp_path / "logs" / "architecture").glob("events.*"))
    assert events and events[0].stat().st_size > 10_000  # PNG images inside


def test_checkpoint_of_an_evaluation_network_keeps_statistics_and_seed_states(tmp_path):
    """Batch-norm running statistics and drop-path seed states live in cells that Keras keeps
    in a list; they must come back too, or a resumed run (or an export) silently differs."""
    from egs_keras import search_space
    from egs_keras.models import EvaluationNetwork
    from egs_keras.training import DropPathScheduler

    def build():
        model = EvaluationNetwork(search_space.published_genotype("darts_v2"), num_classes=2,
                                  input_shape=(8, 8, 3), filters=4, num_cells=3)
        model.compile(keras.optimizers.SGD(0.05), loss=LOSS)
        return model

    images, labels = _data()
    model = build()
    checkpoint = RunCheckpoint(tmp_path / "ckpt", model)
    model.fit(images, labels, batch_size=8, epochs=2, verbose=0,
              callbacks=[DropPathScheduler(0.3, 2), CheckpointCallback(checkpoint)])
    fresh = build()
    assert RunCheckpoint(tmp_path / "ckpt", fresh).restore() == 2
    changed = 0
    for a, b in zip(model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        changed += "moving_mean" in a.path or "seed" in a.path
    assert changed > 10
    np.testing.assert_allclose(fresh.predict(images, verbose=0), model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)
