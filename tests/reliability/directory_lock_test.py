"""Row 3 and 15 of the probe: one process per work directory, stale locks never block."""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from egs_keras.training.workdir import directory_lock

ROOT = pathlib.Path(__file__).parents[2]
HOLD = ("import sys, time; from egs_keras.training.workdir import directory_lock\n"
        "with directory_lock.claim(sys.argv[1]):\n"
        "    print('held', flush=True); time.sleep(600)\n")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of `tmp_path / 'run'`."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path, holder):
    with pytest.raises(directory_lock.DirectoryBusyError,
                       match=rf"in use by another process .*\"pid\": {holder.pid}.*--workdir"):
        with directory_lock.claim(tmp_path / "run"):
            pass


def test_the_lock_of_a_killed_process_does_not_block(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "run" / directory_lock.LOCK_NAME).exists()  # the stale file stays
    with directory_lock.claim(tmp_path / "run"):
        pass


def test_nested_claims_in_one_process_share_the_lock_and_release_it(tmp_path):
    with directory_lock.claim(tmp_path), directory_lock.claim(tmp_path):
        pass
    # Released: another process can take it now.
    probe = ("import sys; from egs_keras.training.workdir import directory_lock\n"
             "with directory_lock.claim(sys.argv[1]): print('ok')")
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_a_second_export_into_one_base_gets_the_lock_error(tmp_path, holder):
    from egs_keras import runs  # noqa: PLC0415 (heavy: only this test)

    # The lock comes first: the training run is not even read (it does not exist here).
    with pytest.raises(directory_lock.DirectoryBusyError, match="in use by another process"):
        runs.export_training_run(tmp_path / "train", export_base=tmp_path / "run")


@pytest.mark.parametrize("tuner", ["random", "settings", "multi_seed"])
def test_a_second_tuner_on_one_directory_gets_the_lock_error(tmp_path, holder, tuner):
    from egs_keras import tuning  # noqa: PLC0415
    from egs_keras.runs import classification

    config = classification.default_config()
    config.data.data_dir = str(tmp_path / "no_data")  # the lock comes before any data
    with pytest.raises(directory_lock.DirectoryBusyError, match="in use by another process"):
        if tuner == "random":
            tuning.run_random_search(config, tmp_path / "run", num_trials=1,
                                     epochs_per_trial=1)
        elif tuner == "settings":
            tuning.run_settings_search(config, tmp_path / "run", max_trials=1,
                                       retrain_epochs=1)
        else:
            tuning.run_multi_seed(config, tmp_path / "run", seeds=[0], retrain_epochs=1)
    assert not (tmp_path / "run" / "config.json").exists()


def _victim(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("the user's data\n")
    return victim


@pytest.mark.parametrize("where", ["run", "export"])
def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path, where):
    """Probe 32.1: `.lock` linked to another file; a run or an export would have truncated
    and overwritten the file it points to."""
    victim = _victim(tmp_path)
    (tmp_path / where).mkdir()
    (tmp_path / where / directory_lock.LOCK_NAME).symlink_to(victim)
    with pytest.raises(directory_lock.LockFileError, match=r"symbolic link .*precious.*remove"):
        if where == "run":
            with directory_lock.claim(tmp_path / where):
                pass
        else:
            from egs_keras import runs  # noqa: PLC0415 (heavy: only this case)
            runs.export_training_run(tmp_path / "train", export_base=tmp_path / where)
    assert victim.read_text() == "the user's data\n"


def test_a_dangling_symlink_lock_is_refused_and_nothing_is_created(tmp_path):
    target = tmp_path / "created_by_the_run"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / directory_lock.LOCK_NAME).symlink_to(target)
    with pytest.raises(directory_lock.LockFileError, match="symbolic link"):
        with directory_lock.claim(tmp_path / "run"):
            pass
    assert not target.exists()


def test_a_lock_that_is_a_directory_or_a_hard_link_is_a_clear_error(tmp_path):
    (tmp_path / "a" / directory_lock.LOCK_NAME).mkdir(parents=True)
    with pytest.raises(directory_lock.LockFileError, match="is a directory"):
        with directory_lock.claim(tmp_path / "a"):
            pass
    victim = _victim(tmp_path)
    (tmp_path / "b").mkdir()
    os.link(victim, tmp_path / "b" / directory_lock.LOCK_NAME)
    with pytest.raises(directory_lock.LockFileError, match="hard link"):
        with directory_lock.claim(tmp_path / "b"):
            pass
    assert victim.read_text() == "the user's data\n"
