"""Rows 1, 8 and 15 of the probe: a damaged newest checkpoint or a lost state file never
makes a run start over; damaged files are set aside, leftovers of interrupted saves removed."""

import logging

import keras
import numpy as np
import pytest

from egs_keras.training.checkpointing import RunCheckpoint
from egs_keras.training.workdir import checkpoint_files


def _model(value):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    model.set_weights([np.full((3, 2), value, "float32"), np.zeros(2, "float32")])
    return model


@pytest.fixture
def saved(tmp_path):
    """A checkpoint directory with epochs 1 (weights 1.0) and 2 (weights 2.0)."""
    model = _model(1.0)
    checkpoint = RunCheckpoint(tmp_path / "checkpoints", model)
    checkpoint.save(1)
    model.set_weights([np.full((3, 2), 2.0, "float32"), np.zeros(2, "float32")])
    checkpoint.save(2)
    return tmp_path / "checkpoints"


def _restore(directory):
    model = _model(0.0)
    epoch = RunCheckpoint(directory, model).restore()
    return epoch, float(model.get_weights()[0][0, 0])


def _damage(path, how):
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "zero": b"",
                      "random": np.random.default_rng(0).bytes(len(data))}[how])


@pytest.mark.parametrize("part", ["index", "data-00000-of-00001"])
@pytest.mark.parametrize("how", ["truncate", "zero", "random"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_previous_one_used(saved, part, how,
                                                                            caplog):
    _damage(saved / f"ckpt-2.{part}", how)
    with caplog.at_level(logging.WARNING):
        assert _restore(saved) == (1, 1.0)
    assert "ckpt-2" in caplog.text and "set aside" in caplog.text
    assert (saved / f"ckpt-2.{part}.damaged").exists()  # renamed, not deleted
    assert not (saved / "ckpt-2.index").exists()
    assert _restore(saved) == (1, 1.0)  # and stays so


@pytest.mark.parametrize("state", [None, b"garbage", b"\xff\xfe\x00", b'model_checkpoint_path: '
                                   b'"ckpt-7"\nall_model_checkpoint_paths: "ckpt-7"\n'])
def test_a_lost_or_wrong_state_file_is_rebuilt_from_the_files_on_disk(saved, state):
    if state is None:
        (saved / "checkpoint").unlink()
    else:
        (saved / "checkpoint").write_bytes(state)
    assert _restore(saved) == (2, 2.0)
    assert 'model_checkpoint_path: "ckpt-2"' in (saved / "checkpoint").read_text()


def test_leftovers_of_an_interrupted_save_are_removed(saved):
    (saved / "ckpt-3_temp").mkdir()
    (saved / "ckpt-3_temp" / "part-0.data").write_bytes(b"half")
    (saved / "checkpoint.tmp1234").write_text("half")
    assert _restore(saved) == (2, 2.0)
    assert sorted(p.name for p in saved.iterdir()) == [
        "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index",
        "ckpt-2.data-00000-of-00001", "ckpt-2.index"]


def test_reading_without_repair_falls_back_but_changes_nothing(saved):
    _damage(saved / "ckpt-2.index", "truncate")
    before = sorted(p.name for p in saved.iterdir())
    assert checkpoint_files.find_intact(saved) == str(saved / "ckpt-1")
    assert sorted(p.name for p in saved.iterdir()) == before


def test_every_checkpoint_damaged_starts_from_scratch_and_keeps_them_aside(saved):
    for number in (1, 2):
        _damage(saved / f"ckpt-{number}.index", "zero")
    assert _restore(saved) == (0, 0.0)
    assert {p.name for p in saved.iterdir()} >= {"ckpt-1.index.damaged", "ckpt-2.index.damaged"}
