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


def _versions(export_base):
    return sorted(p.name for p in export_base.iterdir() if p.is_dir())


def _epochs(history):
    with open(history, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_pipeline_goes_from_nothing_to_a_served_model(tmp_path):
    workdir = tmp_path / "run"
    output = _run(_command("pipeline", workdir, "--config.train.epochs=3")).stdout
    summary = json.loads((workdir / "summary.json").read_text())
    assert f'"test_accuracy": {summary["test_accuracy"]}' in output
    assert summary["test_accuracy"] > 0.3 and summary["parameters"] > 0  # chance is 0.1
    assert json.loads((workdir / "search" / "genotype.json").read_text())["kind"] == "cnn"
    for cell in ("normal", "reduce"):
        assert (workdir / "search" / "cells" / f"{cell}.png").read_bytes()[:4] == b"\x89PNG"
    for stage, epochs in (("search", [0]), ("train", [0, 1, 2])):
        assert _epochs(workdir / stage / "history.csv") == epochs
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
    _run(_command("pipeline", workdir, "--config.train.epochs=3"))
    assert _versions(workdir / "export") == ["1"]
    # A damaged summary is named and written again from the finished stages (probe row 9).
    (workdir / "summary.json").write_bytes(b'{"test_accuracy": 0.')
    output = _run(_command("pipeline", workdir, "--config.train.epochs=3")).stdout
    assert "summary.json" in output and "not valid JSON" in output
    assert json.loads((workdir / "summary.json").read_text())["test_accuracy"] == \
        summary["test_accuracy"]
    assert _epochs(workdir / "train" / "history.csv") == [0, 1, 2]  # nothing trained again
    # The same checkpoint is not exported twice (probe 32.5): version 1 is found again.
    assert _versions(workdir / "export") == ["1"]
    assert json.loads((workdir / "summary.json").read_text())["export"] == str(export)
    # More epochs asked of a finished pipeline are trained, evaluated and exported (probe
    # 32.4), and the temporary directory of an interrupted export goes (probe 32.6).
    stale = workdir / "export" / f".tmp-2-{'0' * 32}"
    (stale / "variables").mkdir(parents=True)
    output = _run(_command("pipeline", workdir, "--config.train.epochs=4")).stdout
    assert _epochs(workdir / "train" / "history.csv") == [0, 1, 2, 3]
    assert json.loads((workdir / "summary.json").read_text())["epochs"] == 4
    assert _versions(workdir / "export") == ["1", "2"] and not stale.exists()
    assert "Removed 1 temporary directories" in output
    changes = json.loads((workdir / "config_changes.json").read_text())
    assert {"field": "train.epochs", "old": 3, "new": 4, "from_epoch": 3} in changes
    # egs-export from the training run, or from one of its checkpoints.
    export = [sys.executable, "-m", "trainers.export", f"--workdir={workdir / 'train'}"]
    # (--format=litert: LiteRT files inside the version; docs/litert.md.)
    output = _run([*export, "--version=7", "--format=litert",
                   "--litert_quantizations=float32"]).stdout
    assert output.strip().endswith("export/7")
    details = json.loads((workdir / "export" / "7" / "litert" / "litert.json").read_text())
    assert list(details["files"]) == ["float32"]
    assert details["files"]["float32"]["inputs"]["images"]["shape"] == [-1, 8, 8, 1]
    checkpoint = workdir / "train" / "checkpoints" / "ckpt-3"
    _run([*export, f"--checkpoint={checkpoint}", f"--export_base={tmp_path / 'served'}"])
    assert (tmp_path / "served" / "1" / "saved_model.pb").exists()


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


def _fails(command, *messages):
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0
    for message in messages:
        assert message in result.stderr, result.stderr[-2000:]
    return result


# Every check of a config's fields is tested in-process (config_test); here one of them and
# each strategy failure show that the binaries report them before any work.
@pytest.mark.parametrize("override, message", [
    ("--config.search.num_samples=0", "config.search.num_samples"),
    ("--strategy=nccl", "--strategy"),
    ("--strategy=tpu", "no TPU was found"),
    ("--strategy=multi_worker", "without a TF_CONFIG environment variable"),
])
def test_bad_configs_and_flags_fail_fast_naming_the_field(tmp_path, override, message):
    _fails(_command("search", tmp_path / "w", override), message)
    assert not (tmp_path / "w" / "checkpoints").exists()


def test_training_on_two_mirrored_cpu_replicas(tmp_path):
    workdir = tmp_path / "run"
    output = _run(_command("train", workdir, "--genotype=darts_v2", "--strategy=mirrored",
                           "--cpu_replicas=2")).stdout
    assert "CPU split into 2 logical devices" in output
    assert json.loads((workdir / "results.json").read_text())["epochs"] == 1
    _fails(_command("train", tmp_path / "x", "--genotype=darts_v2", "--cpu_replicas=-1"),
           "cpu_replicas")


def test_bad_genotype_files_and_workdirs_are_named(tmp_path):
    train = [sys.executable, "-m", "trainers.train", "--config=configs/smoke.py"]
    _fails([*train, f"--workdir={tmp_path / 'a'}", f"--genotype={tmp_path / 'missing.json'}"],
           "no such file")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema_version": 1, "kind": "cnn", "cells": {"normal": ')
    _fails([*train, f"--workdir={tmp_path / 'b'}", f"--genotype={corrupt}"], "corrupt.json")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    _fails([*train, f"--workdir={blocked / 'run'}", "--genotype=darts_v2"], "workdir")
    help_text = subprocess.run([*train[:3], "--help"], cwd=ROOT, env=ENV, capture_output=True,
                               text=True, timeout=300).stdout
    assert "--genotype" in help_text and "published genotype" in help_text


def test_count_command_reports_the_paper_evaluation_network():
    """DARTS V2 at the paper's CIFAR-10 evaluation size: 3.3M parameters (published)."""
    output = _run([sys.executable, "-m", "trainers.count", "--config=configs/cifar10_eval.py",
                   "--genotype=darts_v2"]).stdout
    counts = json.loads(output)
    assert 3.25e6 < counts["parameters"] < 3.4e6
    assert counts["input_shape"] == [32, 32, 3] and counts["multiply_adds"] > 4e8


@pytest.mark.parametrize("binary", ["search", "train", "export", "pipeline", "count", "tune",
                                    "compare"])
def test_console_scripts_are_declared(binary):
    assert f"egs-{binary}=trainers.{binary}:run_main" in (ROOT / "setup.py").read_text()


@pytest.mark.parametrize("binary", ["train", "pipeline", "tune", "compare"])
def test_every_training_binary_takes_strategy_and_explains_a_missing_cluster(tmp_path, binary):
    """(egs-search is checked with every bad value above, an unknown name included: the
    binaries share the flag; egs-export and egs-count do not train.)"""
    extra = ["--genotype=darts_v2"] if binary == "train" else []
    _fails(_command(binary, tmp_path / "w", "--strategy=multi_worker", *extra),
           "without a TF_CONFIG environment variable")
    assert not (tmp_path / "w").exists()
