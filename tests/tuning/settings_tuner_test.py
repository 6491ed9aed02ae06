import json

import pytest

from configs import rnn_demo
from egs_keras import search_space
from egs_keras.runs import classification
from egs_keras.runs import tasks
from egs_keras.tuning import run_settings_search
from egs_keras.tuning import settings_tuner


def _config(tmp_path, **search):
    config = rnn_demo.get_config()
    config.data.data_dir = str(tmp_path / "tfds")
    config.search.epochs, config.search.units = 1, 8
    config.train.units = 8
    config.search.update(search)
    return tasks.validate_config(config)


def _trials(directory):
    return [json.loads(p.read_text())
            for p in sorted((directory / "egs_settings").glob("trial_*/trial.json"))]


def test_every_trial_is_a_search_with_its_own_settings_and_the_tuner_resumes(tmp_path):
    config = _config(tmp_path)
    directory = tmp_path / "tune"
    values, tuner = run_settings_search(config, directory, max_trials=2, retrain_epochs=1)
    trials = _trials(directory)
    assert len(trials) == 2 and all(t["status"] == "COMPLETED" for t in trials)
    settings = [t["hyperparameters"]["values"] for t in trials]
    assert {"num_samples", "temperature_start", "temperature_schedule", "arch_learning_rate",
            "effectiveness_weight"} == set(settings[0])  # λ: the config has the latency prior
    assert settings[0] != settings[1]
    for trial in trials:
        folder = directory / "egs_settings" / f"trial_{trial['trial_id']}" / "search"
        recorded = json.loads((folder / "config.json").read_text())["search"]
        assert recorded["num_samples"] == trial["hyperparameters"]["values"]["num_samples"]
        assert trial["score"] > 1.0  # a perplexity
    assert (directory / "latency.json").exists()  # measured once, for every trial
    best = json.loads((directory / "best_settings.json").read_text())
    assert best["values"] == values and best["objective"] == "val_perplexity"
    assert best["score"] == min(t["score"] for t in trials)
    assert search_space.Genotype.load(directory / "best_genotype.json").kind == "rnn"
    # Interrupted after two trials and started again for three: one new trial runs.
    run_settings_search(config, directory, max_trials=3, retrain_epochs=1)
    assert len(_trials(directory)) == 3


def test_the_same_config_draws_the_same_settings():
    config = classification.default_config()  # seed 0, which keras-tuner would replace at random

    def first_settings(seed=None):
        oracle = settings_tuner.settings_oracle(config, max_trials=2, seed=seed)
        return oracle.populate_space("0")["values"]

    assert first_settings() == first_settings()
    assert first_settings(seed=5) == first_settings(seed=5) != first_settings()


def test_the_space_follows_the_config(tmp_path):
    config = classification.default_config()
    config.search.op_costs = ""  # no prior: nothing for λ to weigh
    space = settings_tuner.settings_space(config, max_samples=4)
    assert space.get("num_samples") == 1 and space._hps["num_samples"][0].max_value == 4
    assert "effectiveness_weight" not in space.values
    config.search.op_costs = "parameters"
    assert "effectiveness_weight" in settings_tuner.settings_space(config).values
    with pytest.raises(ValueError, match="oracle"):
        run_settings_search(config, tmp_path / "tuner", 1, 1, oracle="grid")
