"""Row 9 and 15 of the probe: records are replaced atomically; damaged ones are named."""

import json
import os
import stat

import pytest

from egs_keras import record_files
from egs_keras.training import callbacks


def test_a_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"old": 1, "padding": "' + "x" * 1000 + '"}')
    record_files.write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"new": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "config.json"
    record_files.write_json(path, {"kept": True})
    with pytest.raises(TypeError):
        record_files.atomic_write_text(path, object())  # fails while writing
    assert json.loads(path.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b'{"task": "cnn", "se', "not valid JSON"),
    (b"", "it is empty"),
])
def test_a_damaged_record_is_named_with_what_is_wrong_and_what_to_do(tmp_path, content,
                                                                     problem):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(record_files.RecordError) as error:
        record_files.read_json(path, "the run's configuration")
    message = str(error.value)
    assert str(path) in message and problem in message and "delete it" in message


def _history(rows):
    return "".join(",".join(map(str, row)) + "\n" for row in rows)


def test_history_keeps_only_epochs_the_checkpoint_has(tmp_path):
    path = tmp_path / "history.csv"
    # Epochs 0-2 written, but the run resumes from the checkpoint of epoch 2 (epoch index 1
    # was its last): the row of epoch 2 came before a crash and is dropped, as is a cut line.
    path.write_text(_history([["epoch", "loss"], [0, 2.3], [1, 2.1], [2, 1.9]]) + "3,1.")
    assert callbacks.reconcile_history(path, first_epoch=2) == ["epoch", "loss"]
    assert path.read_text() == _history([["epoch", "loss"], [0, 2.3], [1, 2.1]])


def test_a_history_cut_inside_its_header_starts_again(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,acc")
    assert callbacks.reconcile_history(path, first_epoch=0) is None
    assert path.read_text() == ""


def test_a_history_that_is_not_text_is_named(tmp_path):
    path = tmp_path / "history.csv"
    path.write_bytes(b"epoch,loss\n0,\xff\xff\n")
    with pytest.raises(record_files.RecordError, match="history.csv.*not UTF-8"):
        callbacks.reconcile_history(path, first_epoch=1)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_records_honour_the_umask_as_the_history_does(tmp_path, umask):
    """Probe 32.8: config/genotype/results/summary were 0600 while history and checkpoints
    were 0644, so a colleague or a serving account could read one and not the other."""
    previous = os.umask(umask)
    try:
        record = record_files.write_json(tmp_path / "config.json", {"a": 1})
        with open(tmp_path / "history.csv", "w") as history:
            history.write("epoch\n")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(record.stat().st_mode)
    assert mode == 0o666 & ~umask
    assert mode == stat.S_IMODE((tmp_path / "history.csv").stat().st_mode)
