import multiprocessing

import pytest

from egs_keras.training import records


def _prepare_many_times(directory):
    for _ in range(300):
        records.prepare_workdir(directory)


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
        records.prepare_workdir(blocker / "run")
