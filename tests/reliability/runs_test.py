"""The work directory of a real (tiny) search, damaged as the probe damaged it (rows 1, 2, 4-8,
14): every run resumes where its checkpoints are, refuses what would mix two runs and repeats
itself exactly with one seed."""

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from egs_keras import runs
from egs_keras.runs import classification
from egs_keras.runs import tasks
from egs_keras.training import callbacks
from egs_keras.training.workdir import Workdir
from egs_keras.training.workdir import directory_lock
from egs_keras.training.workdir import run_acceptance

ROOT = pathlib.Path(__file__).parents[2]


def _config(data_dir, epochs=2):
    config = classification.default_config()
    config.data.update(name="egs_digits", data_dir=str(data_dir), image_size=8)
    config.search.update(epochs=epochs, batch_size=32, filters=4, num_cells=1, num_nodes=4,
                         num_samples=2, op_costs="parameters", graph_optimizer=False,
                         train_split="train[:128]", valid_split="train[128:192]",
                         derive="sample_and_validate", derive_candidates=4)
    return tasks.validate_config(config)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Two uninterrupted 2-epoch searches with one config and seed, in two directories."""
    root = tmp_path_factory.mktemp("runs")
    for name in ("first", "second"):
        runs.run_search(_config(root / "tfds"), root / name)
    return root


def _epochs(directory):
    with open(directory / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _values(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}  # holds instance-numbered names


def _copy(finished, tmp_path):
    return pathlib.Path(shutil.copytree(finished / "first", tmp_path / "run"))


def test_one_config_and_seed_give_the_same_variables_genotype_and_history(finished):
    first, second = (_values(finished / name / "checkpoints" / "ckpt-2")
                     for name in ("first", "second"))
    assert first.keys() == second.keys() and len(first) > 30
    for name, value in first.items():
        np.testing.assert_array_equal(value, second[name], err_msg=name)
    for record in ("genotype.json", "history.csv"):
        assert ((finished / "first" / record).read_text()
                == (finished / "second" / record).read_text()), record


def test_the_papers_derivation_scores_every_candidate_and_keeps_the_best(finished):
    """sample_and_validate: the most probable and 3 sampled architectures, each scored on the
    validation split with the search network's weights; the best accuracy is kept, and
    every candidate with its scores is in the run directory and the genotype's record."""
    record = json.loads((finished / "first" / "candidates.json").read_text())
    candidates = record["candidates"]
    assert [c["strategy"] for c in candidates] == ["most_probable"] + ["sample"] * 3
    accuracies = [c["scores"]["accuracy"] for c in candidates]
    assert record["objective"] == "accuracy" and all(0 <= a <= 1 for a in accuracies)
    assert record["chosen"] == int(np.argmax(accuracies))
    genotype = json.loads((finished / "first" / "genotype.json").read_text())
    assert genotype["cells"] == candidates[record["chosen"]]["genotype"]["cells"]
    derivation = genotype["derivation"]
    assert derivation["strategy"] == "sample_and_validate"
    assert derivation["chosen"] == record["chosen"]
    assert [c["scores"] for c in derivation["candidates"]] == [c["scores"] for c in candidates]
    # Distinct candidates score differently: the scores depend on the architecture.
    distinct = {json.dumps(c["genotype"]["cells"], sort_keys=True): c["scores"]["loss"]
                for c in candidates}
    assert len(set(distinct.values())) == len(distinct) > 1


def test_a_lost_state_file_resumes_instead_of_overwriting(finished, tmp_path):
    run = _copy(finished, tmp_path)
    (run / "checkpoints" / "checkpoint").unlink()
    runs.run_search(_config(finished / "tfds", epochs=3), run)
    assert _epochs(run) == [0, 1, 2]  # resumed after epoch 2, nothing overwritten
    changes = json.loads((run / run_acceptance.CHANGES_NAME).read_text())
    assert changes == [{"field": "search.epochs", "old": 2, "new": 3, "from_epoch": 2}]


def test_a_damaged_last_checkpoint_reruns_its_epoch_once(finished, tmp_path):
    run = _copy(finished, tmp_path)
    # As if killed between the history row of epoch 2 and its checkpoint: the checkpoint is
    # unusable, the row is there. The run goes back to ckpt-1, and epoch 2 appears once.
    data = run / "checkpoints" / "ckpt-2.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    runs.run_search(_config(finished / "tfds"), run)
    assert _epochs(run) == [0, 1]
    assert (run / "checkpoints" / "ckpt-2.data-00000-of-00001.damaged").exists()
    assert (run / "checkpoints" / "ckpt-2.index").exists()  # written again


@pytest.mark.parametrize("field, value", [
    ("filters", 8), ("num_samples", 3), ("execution", "sparse"), ("search_mode", "bilevel")])
def test_a_changed_search_is_refused_and_the_record_kept(finished, field, value):
    run = finished / "first"
    before = {name: (run / name).read_bytes() for name in ("config.json", "history.csv")}
    config = _config(finished / "tfds")
    config.search[field] = value
    with pytest.raises(run_acceptance.RunMismatchError, match=rf"search\.{field}: "):
        runs.run_search(config, run)
    assert {name: (run / name).read_bytes() for name in before} == before


def test_a_run_in_a_directory_another_process_holds_is_refused(finished, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from egs_keras.training.workdir import "
         "directory_lock\nwith directory_lock.claim(sys.argv[1]):\n print('held', flush=True);"
         " time.sleep(600)", str(tmp_path / "busy")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(directory_lock.DirectoryBusyError, match="in use by another"):
            runs.run_search(_config(finished / "tfds"), tmp_path / "busy")
        assert not (tmp_path / "busy" / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_training_run_refuses_another_genotype_before_writing(tmp_path):
    config = classification.default_config()
    with Workdir.open(tmp_path) as run_dir:
        run_dir.accept_training(config, "darts_v2")
    (tmp_path / "results.json").write_text("{}")
    before = {name: (tmp_path / name).read_bytes() for name in ("config.json", "genotype.json")}
    config.train.filters = 16
    with Workdir.open(tmp_path) as run_dir:
        with pytest.raises(run_acceptance.RunMismatchError, match="train.filters: 36 -> 16"):
            run_dir.accept_training(config, "darts_v2")
        with pytest.raises(run_acceptance.RunMismatchError, match="another genotype"):
            run_dir.accept_training(classification.default_config(), "darts_v1")
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_nan_before_any_checkpoint_says_the_run_starts_again(tmp_path):
    guard = callbacks.StopOnNonFinite(tmp_path / "checkpoints")
    with pytest.raises(callbacks.NonFiniteError, match="No checkpoint had been written yet"):
        guard.on_train_batch_end(0, {"loss": float("nan")})
