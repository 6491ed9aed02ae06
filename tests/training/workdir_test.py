import json
import multiprocessing

import keras
import pytest

from egs_keras.training import workdir
from egs_keras.training.workdir import Workdir


def _prepare_many_times(directory):
    for _ in range(300):
        workdir.prepare(directory)


def test_workers_may_prepare_the_same_workdir_at_the_same_time(tmp_path):
    """Every worker of a cluster checks the shared work directory as it starts; one's probe
    file must not be another's (a chief once died of it: "No such file or directory")."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_prepare_many_times, args=(tmp_path / "run",))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert list((tmp_path / "run").iterdir()) == []  # no probe left behind


def test_an_unwritable_workdir_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"workdir='.*file/run', which cannot be written to"):
        workdir.prepare(blocker / "run")


def test_a_workdir_is_held_by_one_process_and_says_where_its_records_go(tmp_path):
    with Workdir.open(tmp_path / "run") as run_dir:
        assert run_dir.chief and run_dir.own == run_dir.path == tmp_path / "run"
        assert (tmp_path / "run" / ".lock").exists()
        run_dir.accept_config({"seed": 1, "search": {"epochs": 2}})
        assert run_dir.write_json("results.json", {"a": 1}) == {"a": 1}
        checkpoint, callbacks = run_dir.checkpoint_and_callbacks(
            keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    assert checkpoint.directory == str(tmp_path / "run" / "checkpoints")
    names = [type(c).__name__ for c in callbacks]
    assert names == ["StopOnNonFinite", "EpochHistory", "CheckpointCallback", "TensorBoard"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 1
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == {"a": 1}


def test_a_strategy_it_cannot_use_is_said_before_the_directory_is_created(tmp_path):
    with pytest.raises(ValueError, match="strategy"):
        with Workdir.open(tmp_path / "run", "no_such_strategy"):
            pass
    assert not (tmp_path / "run").exists()
