"""A real two-worker cluster on localhost: two processes, TF_CONFIG, loopback ports only,
running the trainers with --strategy=multi_worker (MultiWorkerMirroredStrategy, trained by
`distributed_loop.fit` because Keras' fit does not run under it): a search, and a training
that one worker's preemption interrupts and the restarted cluster finishes."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

ROOT = pathlib.Path(__file__).parents[2]
# The workers wait for each other at every step: beside other tests on two cores they took
# 161 s instead of 59 s alone, so `make test` runs them alone.
pytestmark = pytest.mark.cluster


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_cluster(binary, workdir, tmp_path, *flags):
    """Starts `binary` on two workers (each with its own data directory, as on two
    machines); returns their processes, the chief's first."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        # One thread per operation: the two workers share this machine's cores.
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT),
               "TF_CONFIG": json.dumps(config), "TF_NUM_INTRAOP_THREADS": "1"}
        command = [sys.executable, "-m", f"trainers.{binary}", "--config=configs/smoke.py",
                   f"--workdir={workdir}", "--strategy=multi_worker",
                   f"--config.data.data_dir={tmp_path / f'tfds{index}'}", *flags]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return processes


def _finish(processes, returncode=0):
    """Waits for the processes; returns their (stdout, stderr), checking their exit codes."""
    outputs = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise
        assert process.returncode == returncode, stderr[-3000:]
        outputs.append((stdout, stderr))
    return outputs


def _run_cluster(binary, workdir, tmp_path, *flags):
    """Runs `binary` on two workers to the end; returns their outputs, the chief's first."""
    return [out for out, _ in _finish(_start_cluster(binary, workdir, tmp_path, *flags))]


def _checkpoint_values(directory):
    reader = tf.train.load_checkpoint(str(directory))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "OPTIMIZER_SLOT" not in name and not name.startswith("_CHECKPOINTABLE")}


def _assert_workers_agree(workdir):
    chief = _checkpoint_values(workdir / "checkpoints")
    worker = _checkpoint_values(workdir / "workertemp_worker_1" / "checkpoints")
    assert chief.keys() == worker.keys() and len(chief) > 20
    for name, value in chief.items():
        np.testing.assert_array_equal(value, worker[name], err_msg=name)


def test_two_workers_search_in_step_and_only_the_chief_writes(tmp_path):
    search_dir = tmp_path / "search"
    _run_cluster("search", search_dir, tmp_path, "--config.search.derive=sample_and_validate",
                 "--config.search.derive_candidates=3")
    _assert_workers_agree(search_dir)
    assert (search_dir / "genotype.json").exists() and (search_dir / "history.csv").exists()
    # The paper's derivation scores its candidates with the cluster's custom loop.
    candidates = json.loads((search_dir / "candidates.json").read_text())["candidates"]
    assert len(candidates) == 3 and all(0 <= c["scores"]["accuracy"] <= 1 for c in candidates)
    # Each worker times the operations on its own device (the prior is their mean).
    assert (search_dir / "latency.json").exists()
    # The other worker keeps only its own state there, under its own lock.
    assert sorted(p.name for p in (search_dir / "workertemp_worker_1").iterdir()) == [
        ".latency.json.lock", ".lock", "checkpoints", "latency.json"]


def test_a_worker_stopped_with_sigterm_saves_and_the_restarted_cluster_resumes(tmp_path):
    workdir = tmp_path / "train"
    flags = ("--genotype=darts_v2", "--config.train.epochs=2", "--config.train.batch_size=16")
    processes = _start_cluster("train", workdir, tmp_path, *flags)
    history = workdir / "history.csv"
    deadline = time.monotonic() + 300
    while not (history.exists() and len(history.read_text().splitlines()) >= 2):
        assert time.monotonic() < deadline and processes[0].poll() is None
        time.sleep(0.2)
    processes[1].send_signal(signal.SIGTERM)  # the non-chief worker is preempted
    outputs = _finish(processes, returncode=42)
    assert all("Preempted: a worker received SIGTERM" in err for _, err in outputs)
    marker = json.loads((workdir / "checkpoints" / "mid_epoch.json").read_text())
    assert marker["epoch"] >= 1 and 0 < marker["step"] < 1500 // 16
    _assert_workers_agree(workdir)  # both saved the same step

    outputs = _run_cluster("train", workdir, tmp_path, *flags)
    resumed = f"Resuming at epoch {marker['epoch'] + 1}, step {marker['step'] + 1}"
    assert all(resumed in out for out in outputs)
    epochs = [row.split(",")[0] for row in history.read_text().splitlines()[1:]]
    assert epochs == ["0", "1"] and "val_accuracy" in history.read_text().splitlines()[0]
    assert not (workdir / "checkpoints" / "mid_epoch.json").exists()
    _assert_workers_agree(workdir)
    # Both workers report the chief's numbers; only the chief wrote records.
    results = json.loads((workdir / "results.json").read_text())
    assert all(f'"test_accuracy": {results["test_accuracy"]}' in out for out in outputs)
    assert sorted(p.name for p in (workdir / "workertemp_worker_1").iterdir()) == [
        ".lock", "checkpoints"]
