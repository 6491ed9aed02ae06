import json

from egs_keras import search_space
from egs_keras.runs import classification
from egs_keras.runs import tasks
from egs_keras.tuning import run_random_search


def _config(tmp_path):
    config = classification.default_config()
    config.data.name = "egs_digits"
    config.data.image_size = 8
    config.data.data_dir = str(tmp_path / "tfds")
    config.search.num_samples = 2
    config.search.num_nodes = 4
    config.search.train_split = "train[:20%]"
    config.search.valid_split = "train[80%:]"
    config.train.batch_size = 50
    config.train.filters = 4
    config.train.num_cells = 2
    config.train.auxiliary_weight = 0.0
    config.train.drop_path_rate = 0.0
    config.train.graph_optimizer = False
    return tasks.validate_config(config)


def test_random_search_records_every_trial_and_resumes(tmp_path):
    config = _config(tmp_path)
    directory = tmp_path / "tuner"
    best, tuner = run_random_search(config, directory, num_trials=2, epochs_per_trial=1)
    trials = sorted((directory / "random_search").glob("trial_*/trial.json"))
    assert len(trials) == 2
    seeds = [json.loads(t.read_text())["hyperparameters"]["values"]["genotype_seed"]
             for t in trials]
    assert len(set(seeds)) == 2
    scores = [json.loads(t.read_text())["score"] for t in trials]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert search_space.Genotype.load(directory / "best_genotype.json") == best
    # Interrupted after two trials and started again for three: only one new trial runs.
    _, tuner = run_random_search(config, directory, num_trials=3, epochs_per_trial=1)
    trials = sorted((directory / "random_search").glob("trial_*/trial.json"))
    assert len(trials) == 3
    assert [json.loads(t.read_text())["hyperparameters"]["values"]["genotype_seed"]
            for t in trials][:2] == seeds


def test_random_search_covers_the_recurrent_space_scored_by_perplexity(tmp_path):
    from configs import rnn_demo

    config = rnn_demo.get_config()
    config.data.data_dir = str(tmp_path / "tfds")
    config.train.units = 8
    best, tuner = run_random_search(tasks.validate_config(config), tmp_path / "tuner",
                                    num_trials=2, epochs_per_trial=1)
    assert best.kind == "rnn" and len(best.cells["recurrent"].nodes) == 2
    trials = tuner.oracle.get_best_trials(2)
    assert tuner.oracle.objective.name == "val_perplexity"
    assert trials[0].score <= trials[1].score and trials[0].score > 1.0
