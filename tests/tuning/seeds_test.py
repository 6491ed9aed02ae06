"""Multi-seed selection and egs-compare on the bundled data, as a user runs them."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from configs import rnn_demo
from egs_keras.runs import tasks
from egs_keras.tuning import run_multi_seed

ROOT = pathlib.Path(__file__).parents[2]


def test_multi_seed_keeps_the_best_search_and_reports_mean_and_std(tmp_path):
    config = rnn_demo.get_config()
    config.data.data_dir = str(tmp_path / "tfds")
    config.search.epochs, config.search.units, config.train.units = 1, 8, 8
    tasks.validate_config(config)
    summary = run_multi_seed(config, tmp_path / "seeds", seeds=[3, 4], retrain_epochs=1)
    assert summary["seeds"] == [3, 4] and len(summary["values"]) == 2
    assert summary["best_seed"] == [3, 4][summary["values"].index(min(summary["values"]))]
    assert summary["mean"] == pytest.approx(sum(summary["values"]) / 2)
    for seed in (3, 4):
        recorded = json.loads((tmp_path / "seeds" / f"seed_{seed}" / "search" /
                               "config.json").read_text())
        assert recorded["seed"] == seed
    # Finished seeds are read back, not recomputed; a new seed runs alone.
    (tmp_path / "seeds" / "seed_3" / "search" / "genotype.json").unlink()
    again = run_multi_seed(config, tmp_path / "seeds", seeds=[3, 4, 5], retrain_epochs=1)
    assert again["values"][:2] == summary["values"]
    assert not (tmp_path / "seeds" / "seed_3" / "search" / "genotype.json").exists()
    with pytest.raises(ValueError, match="distinct"):
        run_multi_seed(config, tmp_path / "seeds", seeds=[1, 1], retrain_epochs=1)


def test_egs_compare_prints_the_table_from_real_runs_on_the_bundled_digits(tmp_path):
    command = [sys.executable, "-m", "trainers.compare", "--config=configs/smoke.py",
               f"--workdir={tmp_path / 'compare'}", f"--config.data.data_dir={tmp_path}",
               "--seeds=0,1", "--epochs=1", "--config.search.train_split=train[:20%]",
               "--config.search.valid_split=train[80%:]",
               "--strategy=one_device"]  # every search and scoring run under the strategy
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| EGS search |" in result.stdout and "| random, same space |" in result.stdout
    comparison = json.loads((tmp_path / "compare" / "comparison.json").read_text())
    for side in ("searched", "random"):
        assert comparison[side]["objective"] == "val_accuracy"
        assert all(0.0 <= v <= 1.0 for v in comparison[side]["values"])
    assert (tmp_path / "compare" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    searched = tmp_path / "compare" / "searched"
    assert sorted(p.name for p in searched.glob("seed_*")) == ["seed_0", "seed_1"]
