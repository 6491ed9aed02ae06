"""A keras-tuner Tuner whose trials are whole EGS searches: it tunes the estimator's settings.

Each trial runs the search of `config` with the trial's M (`num_samples`), temperature
schedule (start value and shape), architecture learning rate and, when the config has a cost
prior, λ (`effectiveness_weight`); derives the genotype; retrains it briefly; and reports the
retrain's validation score (`scoring`). CNN and recurrent configs alike.

>>> best_values, tuner = run_settings_search(config, "runs/tune", max_trials=8,
...                                          retrain_epochs=5)          # doctest: +SKIP

Every trial keeps its search run (config, history, checkpoints, genotype) in
`<directory>/egs_settings/trial_<id>/search/`; keras-tuner records the trial's values and score
in `trial_<id>/trial.json`. The directory is resumable: finished trials are reloaded, and a
search interrupted inside a trial resumes from its checkpoint.
"""

import pathlib

import keras_tuner as kt

from egs_keras import _validation
from egs_keras import record_files
from egs_keras.costs import prior
from egs_keras.runs import tasks
from egs_keras.training import temperature
from egs_keras.training.workdir import Workdir
from egs_keras.tuning import scoring

ORACLES = ("random", "bayesian")


def settings_space(config, max_samples=None):
    """The hyperparameters tuned for `config`: M in 1..min(K, max_samples), τ's start in
    [1, 10] (log scale) and schedule, the architecture learning rate in [1e-4, 1e-1] (log),
    and λ in [0, 1] when `config.search.op_costs` sets a cost prior."""
    search = config.search
    space = kt.HyperParameters()
    space.Int("num_samples", 1, min(len(search.primitives), max_samples or 10**6))
    space.Float("temperature_start", 1.0, 10.0, sampling="log")
    space.Choice("temperature_schedule", list(temperature.SCHEDULES))
    space.Float("arch_learning_rate", 1e-4, 1e-1, sampling="log")
    if search.op_costs:
        space.Float("effectiveness_weight", 0.0, 1.0)
    return space


def config_for(config, values):
    """A copy of `config` whose search uses the trial's `values`."""
    trial_config = config.copy_and_resolve_references()
    for name, value in values.items():
        trial_config.search[name] = value
    return trial_config


def settings_oracle(config, max_trials, oracle="random", max_samples=None, seed=None):
    """A keras-tuner oracle ("random" or "bayesian") over `settings_space(config)`; the same
    config and seed draw the same settings."""
    if oracle not in ORACLES:
        raise _validation.invalid("oracle", f"one of {list(ORACLES)}", oracle)
    kind = (kt.oracles.RandomSearchOracle if oracle == "random"
            else kt.oracles.BayesianOptimizationOracle)
    return kind(objective=scoring.objective(config), max_trials=max_trials,
                hyperparameters=settings_space(config, max_samples),
                seed=scoring.oracle_seed(config, seed))


class EGSSettingsTuner(kt.engine.base_tuner.BaseTuner):
    """Trials = EGS searches (see the module doc).

    Args:
        config: the run config whose search is tuned (its `train` section sets the retrain).
        retrain_epochs: epochs of each derived genotype's scoring run.
        oracle: a keras-tuner `Oracle` over `settings_space(config)`.
        directory, project_name: where keras-tuner and the trials write.
        strategy: the tf.distribute strategy (name) of every search and scoring run.
    """

    def __init__(self, config, retrain_epochs, oracle, directory, project_name="egs_settings",
                 strategy="default"):
        self.config = config
        self.strategy = strategy
        self.retrain_epochs = _validation.check_positive_int("retrain_epochs", retrain_epochs)
        super().__init__(oracle=oracle, hypermodel=None, directory=str(directory),
                         project_name=project_name, overwrite=False)

    def run_trial(self, trial, *args, **kwargs):
        trial_config = prior.share_latency_table(
            config_for(self.config, trial.hyperparameters.values), self.directory)
        folder = pathlib.Path(self.get_trial_dir(trial.trial_id))
        genotype = tasks.run_search(trial_config, folder / "search", self.strategy)
        value = scoring.score_genotype(
            trial_config, genotype, scoring.scoring_data(trial_config, self.retrain_epochs),
            self.strategy)
        return {scoring.objective(self.config).name: value}

    def save_model(self, trial_id, model, step=0):
        """Nothing to save beyond the trial's search run (the genotype is in its folder)."""

    def trial_genotype_path(self, trial_id):
        return pathlib.Path(self.get_trial_dir(trial_id)) / "search" / "genotype.json"


def run_settings_search(config, directory, max_trials, retrain_epochs, oracle="random",
                        max_samples=None, seed=None, strategy="default"):
    """Runs (or resumes) `max_trials` tuned EGS searches; returns (the best trial's setting
    values, the tuner) and writes them to `<directory>/best_settings.json` with the best
    trial's genotype as `best_genotype.json`."""
    search_oracle = settings_oracle(config, max_trials, oracle, max_samples, seed)
    with Workdir.open(directory, strategy, name="directory") as run_dir:
        directory = run_dir.path
        run_dir.accept_config(config)
        tuner = EGSSettingsTuner(config, retrain_epochs, search_oracle, directory,
                                 strategy=strategy)
        tuner.search()
        best = tuner.oracle.get_best_trials(1)[0]
        values = dict(best.hyperparameters.values)
        record_files.write_json(directory / "best_settings.json",
                                {"values": values, "score": best.score,
                                 "objective": scoring.objective(config).name})
        record_files.atomic_write_text(directory / "best_genotype.json", record_files.read_text(
            tuner.trial_genotype_path(best.trial_id), "the best trial's genotype"))
        return values, tuner


