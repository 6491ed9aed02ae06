"""Probe 32 (items 3, 5, 7, 9-13): bad paths, seeds, weights, versions, export bases,
checkpoints and latency tables are refused with what was received and what to do, before
anything is written."""

import json
import math
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from egs_keras import runs
from egs_keras import search_space
from egs_keras.costs import edge_tables
from egs_keras.export import saved_model
from egs_keras.layers import EGSChoice
from egs_keras.models import EvaluationNetwork
from egs_keras.runs import classification
from egs_keras.runs import tasks
from egs_keras.training import workdir

ROOT = pathlib.Path(__file__).parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}


def _smoke():
    sys.path.insert(0, str(ROOT))
    from configs import smoke  # noqa: PLC0415

    return smoke.get_config()


@pytest.mark.parametrize("path", ["", "   "])
def test_an_empty_workdir_or_export_base_is_refused(tmp_path, path, monkeypatch):
    """Probe 32.3: `Path("")` is the current directory, where a whole run would land."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="workdir.*empty path means the current directory"):
        workdir.prepare(path)
    with pytest.raises(ValueError, match="workdir"):
        runs.export_training_run(path)
    with pytest.raises(ValueError, match="export_base"):
        runs.export_training_run(tmp_path / "train", export_base=path)
    assert list(tmp_path.iterdir()) == []


def test_the_trainers_refuse_an_empty_workdir_before_writing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainers.search", f"--config={ROOT / 'configs' / 'smoke.py'}",
         "--workdir="], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "`--workdir`, expected a path, got ''" in result.stderr
    assert "e.g. --workdir=runs/demo" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_a_seed_out_of_range_names_the_field(seed):
    """Probe 32.9: it failed after config.json and the latency table, in numpy's words."""
    config = _smoke()
    config.seed = seed
    with pytest.raises(ValueError, match=r"config\.seed.*0 to 4294967295"):
        tasks.validate_config(config)


def test_a_nan_auxiliary_weight_and_a_fractional_input_index_are_refused():
    """Probe 32.11: NaN silently dropped the auxiliary head; input 1.7 was cut to 1."""
    config = classification.default_config()
    config.train.auxiliary_weight = math.nan
    with pytest.raises(ValueError, match=r"config\.train\.auxiliary_weight.*nan"):
        tasks.validate_config(config)
    with pytest.raises(ValueError, match="auxiliary_weight"):
        EvaluationNetwork(search_space.published_genotype("darts_v2"), num_classes=10,
                          input_shape=(8, 8, 1), auxiliary_weight=math.nan)
    data = search_space.published_genotype("darts_v2").to_dict()
    data["cells"]["normal"]["nodes"][0][1][1] = 1.7
    with pytest.raises(ValueError, match=r"cells\.normal.*integer node index, got 1\.7"):
        search_space.Genotype.from_dict(data)


def test_an_int64_overflowing_seed_of_a_choice_is_refused_at_construction():
    """Probe 32.13: EGSChoice(seed=2**70) failed inside fit with TensorFlow's TypeError."""
    with pytest.raises(ValueError, match="seed.*2\\*\\*63"):
        EGSChoice([keras.layers.Identity(), keras.layers.Identity()], seed=2**70)


@pytest.mark.parametrize("version", [0, 2**63, 2**64, True])
def test_a_version_tf_serving_cannot_parse_is_refused_before_anything_exists(tmp_path,
                                                                             version):
    """Probe 32.12: a version above int64 made a directory TF Serving cannot read."""
    with pytest.raises(ValueError, match=r"version.*9223372036854775807"):
        saved_model.version_directory(tmp_path / "base", version)
    with pytest.raises(ValueError, match="version"):
        runs.export_training_run(tmp_path / "train", tmp_path / "base", version=version)
    assert list(tmp_path.iterdir()) == []


def test_an_export_base_that_is_a_file_is_refused_and_a_failed_export_leaves_nothing(
        tmp_path):
    """Probe 32.13: a raw OSError, and the failed export created the base and its .lock."""
    blocker = tmp_path / "models"
    blocker.write_text("a file")
    with pytest.raises(ValueError, match=r"export_base=.*is not a directory"):
        runs.export_training_run(tmp_path / "train", blocker / "egs")
    with pytest.raises(ValueError, match="config.json and genotype.json"):
        runs.export_training_run(tmp_path / "train", tmp_path / "new" / "base")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_a_checkpoint_flag_naming_garbage_is_a_clear_error(tmp_path):
    """Probe 32.13: --checkpoint at a non-checkpoint gave a DataLossError traceback."""
    train = tmp_path / "train"
    train.mkdir()
    (train / "config.json").write_text(json.dumps(_smoke().to_dict()))
    (train / "genotype.json").write_text(search_space.published_genotype("darts_v2").to_json())
    (tmp_path / "notes.index").write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match=r"Could not load checkpoint .*notes.*Expected the "
                                         r"prefix of a checkpoint"):
        runs.load_training_run(train, checkpoint=tmp_path / "notes")


def test_a_batch_larger_than_the_split_is_refused_before_timing_or_writing(tmp_path):
    """Probe 32.10: found after about 100 s of latency timing at that batch size."""
    config = _smoke()
    config.data.data_dir = str(tmp_path / "tfds")
    config.search.batch_size = 100_000
    with pytest.raises(ValueError, match=r"config\.search\.batch_size=100000, larger than the "
                                         r"split"):
        runs.run_search(config, tmp_path / "run")
    assert not (tmp_path / "run" / "config.json").exists()
    assert not (tmp_path / "run" / "latency.json").exists()


def _entry(op, ms):
    return {"kind": "normal", "op": op, "shape": [1, 8, 8, 4], "stride": 1, "device": "cpu",
            "ms": ms}


def test_a_negative_or_nan_latency_names_the_file_and_the_entry(tmp_path):
    path = tmp_path / "latency.json"
    for bad in (-1.0, "NaN"):
        text = json.dumps({"format": 1, "entries": [_entry("skip_connect", 0.1),
                                                    _entry("sep_conv_3x3", bad)]})
        path.write_text(text.replace('"NaN"', "NaN"))
        with pytest.raises(ValueError, match=r"latency\.json.*entry 1 \(sep_conv_3x3.*ms="):
            edge_tables.LatencyTable(path)


def test_two_searches_sharing_a_latency_table_keep_each_others_entries(tmp_path):
    """Probe 32.7: the last writer's entries replaced the other's."""
    path = tmp_path / "shared" / "latency.json"
    first, second = edge_tables.LatencyTable(path), edge_tables.LatencyTable(path)
    first.lookup("normal", "sep_conv_3x3", (1, 8, 8, 4), 1, "cpu", lambda: 1.5)
    second.lookup("normal", "max_pool_3x3", (1, 8, 8, 4), 1, "cpu", lambda: 0.25)
    second.lookup("normal", "sep_conv_3x3", (1, 8, 8, 4), 1, "cpu", lambda: 9.0)
    first.save()
    second.save()
    merged = edge_tables.LatencyTable(path)
    assert merged.lookup("normal", "sep_conv_3x3", (1, 8, 8, 4), 1, "cpu", None) == 1.5
    assert merged.lookup("normal", "max_pool_3x3", (1, 8, 8, 4), 1, "cpu", None) == 0.25
    assert sorted(p.name for p in path.parent.iterdir()) == [".latency.json.lock",
                                                             "latency.json"]


def test_litert_without_its_interpreter_is_said_before_any_training(tmp_path, monkeypatch):
    """A pipeline exporting LiteRT would otherwise fail after searching and training."""
    import builtins  # noqa: PLC0415

    real_import = builtins.__import__

    def without_litert(name, *args, **kwargs):
        if name.startswith("ai_edge_litert"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_litert)
    config = _smoke()
    config.data.data_dir = str(tmp_path / "tfds")
    config.export.formats = "saved_model,litert"
    with pytest.raises(ImportError, match=r"pip install 'egs_keras\[litert\]'"):
        runs.run_pipeline(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ImportError, match="ai-edge-litert"):
        runs.export_training_run(tmp_path / "train", tmp_path / "base",
                                 formats="saved_model,litert")
    assert not (tmp_path / "base").exists()
