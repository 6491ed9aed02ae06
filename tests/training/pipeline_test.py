"""The trainers end to end on the bundled digits, as a user runs them (subprocesses)."""

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}


def _command(binary, workdir, *flags):
    return [sys.executable, "-m", f"trainers.{binary}", "--config=configs/smoke.py",
            f"--workdir={workdir}", f"--config.data.data_dir={workdir.parent / 'tfds'}",
            *flags]


def _run(command, timeout=600):
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _epochs(history):
    with open(history, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_pipeline_goes_from_nothing_to_a_served_model(tmp_path):
    workdir = tmp_path / "run"
    output = _run(_command("pipeline", workdir)).stdout
    summary = json.loads((workdir / "summary.json").read_text())
    assert f'"test_accuracy": {summary["test_accuracy"]}' in output
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["parameters"] > 0
    assert json.loads((workdir / "search" / "genotype.json").read_text())["kind"] == "cnn"
    for cell in ("normal", "reduce"):
        assert (workdir / "search" / "cells" / f"{cell}.png").read_bytes()[:4] == b"\x89PNG"
    for stage in ("search", "train"):
        assert _epochs(workdir / stage / "history.csv") == [0]
        assert json.loads((workdir / stage / "config.json").read_text())["data"]["name"] == \
            "egs_digits"
    export = pathlib.Path(summary["export"])
    assert export == workdir / "export" / "1"
    assert (export / "assets.extra" / "genotype.json").exists()
    # A process that never imports egs_keras serves the model.
    probe = ("import numpy as np, tensorflow as tf, sys;"
             f"m = tf.saved_model.load({str(export)!r});"
             "out = m.signatures['serving_default'](images=tf.zeros([3, 8, 8, 1]));"
             "p = out['probabilities'].numpy();"
             "assert p.shape == (3, 10) and np.allclose(p.sum(1), 1, atol=1e-5);"
             "assert 'egs_keras' not in sys.modules; print('served')")
    assert "served" in _run([sys.executable, "-c", probe]).stdout
    # Finished: the same command again does nothing new.
    _run(_command("pipeline", workdir))
    assert sorted(p.name for p in (workdir / "export").iterdir()) == ["1"]


def test_a_killed_search_resumes_from_its_last_checkpoint(tmp_path):
    workdir = tmp_path / "search"
    command = _command("search", workdir, "--config.search.epochs=3")
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    first = workdir / "checkpoints" / "ckpt-1.index"
    deadline = time.time() + 300
    while not first.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert first.exists(), process.stderr.read()[-3000:] if process.poll() is not None else ""
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (workdir / "genotype.json").exists()  # it really was interrupted
    _run(command)
    assert _epochs(workdir / "history.csv") == [0, 1, 2]  # epoch 0 was not run again
    assert sorted(p.name for p in (workdir / "genotypes").glob("*.json"))[-1] == "epoch_0003.json"
    assert (workdir / "genotype.json").exists()


def test_flags_are_validated_with_clear_messages(tmp_path):
    result = subprocess.run(
        _command("search", tmp_path / "w", "--config.search.execution=lazy"), cwd=ROOT, env=ENV,
        capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "config.search.execution" in result.stderr
    result = subprocess.run(_command("search", tmp_path / "w", "--strategy=tpu"), cwd=ROOT,
                            env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "--strategy" in result.stderr
    result = subprocess.run([sys.executable, "-m", "trainers.train", "--help"], cwd=ROOT,
                            env=ENV, capture_output=True, text=True, timeout=300)
    assert "--genotype" in result.stdout and "published genotype" in result.stdout


@pytest.mark.parametrize("binary", ["search", "train", "export", "pipeline"])
def test_console_scripts_are_declared(binary):
    assert f"egs-{binary}=trainers.{binary}:run_main" in (ROOT / "setup.py").read_text()
