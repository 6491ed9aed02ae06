"""The random-search baseline of the paper, as a keras-tuner search: each trial trains the
evaluation model of a genotype drawn uniformly from the EGS space (`random_genotype`), CNN or
recurrent as the config says.

>>> best, tuner = run_random_search(config, "runs/random", num_trials=10,
...                                 epochs_per_trial=5)          # doctest: +SKIP

The trial's only hyperparameter is the genotype's seed, so every trial is recorded by
keras-tuner (`<directory>/random_search/trial_*/trial.json`) and its genotype can be rebuilt
with `random_genotype(..., seed=...)`. The tuner directory is resumable: the same call after an
interruption reloads the finished trials and runs only the missing ones. Trials are scored as
`scoring` says (validation data, never the test split).
"""

import keras
import keras_tuner as kt

from egs_keras import _validation
from egs_keras.training.workdir import Workdir
from egs_keras.tuning import scoring

MAX_SEED = 2**31 - 1


class RandomGenotypeHyperModel(kt.HyperModel):
    """Builds the evaluation model of `config.train` for a random genotype of the space of
    `config.search` (M = `num_samples`, its primitives and nodes)."""

    def __init__(self, config, data):
        super().__init__(name="random_genotype")
        self.config = config
        self.data = data

    def genotype(self, seed):
        return scoring.random_genotype_of(self.config, seed)

    def build(self, hp):
        seed = hp.Int("genotype_seed", 0, MAX_SEED)
        return scoring.build_model(self.config, self.genotype(seed), self.data)


def run_random_search(config, directory, num_trials, epochs_per_trial, seed=None,
                      strategy="default"):
    """Runs (or resumes) `num_trials` trials of `epochs_per_trial` epochs each, under
    `strategy` (keras-tuner's `distribution_strategy`; not "multi_worker", whose training
    Keras' fit cannot run); returns (the best trial's genotype, the tuner)."""
    if strategy == "multi_worker":
        raise _validation.invalid(
            "strategy", '"default", "one_device", "mirrored" or "tpu" for the random tuner',
            strategy, hint="keras-tuner trains with Keras' fit; use --tuner=settings or seeds.")
    with Workdir.open(directory, strategy, name="directory") as run_dir:
        directory = run_dir.path
        run_dir.accept_config(config)
        strategy = None if strategy == "default" else run_dir.strategy  # keras-tuner's
        data = scoring.scoring_data(config, epochs_per_trial)
        hypermodel = RandomGenotypeHyperModel(config, data)
        tuner = kt.RandomSearch(
            hypermodel, objective=scoring.objective(config), max_trials=num_trials,
            seed=scoring.oracle_seed(config, seed), directory=str(directory),
            project_name="random_search", overwrite=False, distribution_strategy=strategy)
        tuner.search(data.batches, validation_data=data.validation, epochs=epochs_per_trial,
                     steps_per_epoch=data.steps, verbose=0, shuffle=False,
                     callbacks=[keras.callbacks.TerminateOnNaN()])
        best = tuner.get_best_hyperparameters(1)[0]
        genotype = hypermodel.genotype(best.get("genotype_seed"))
        genotype.save(directory / "best_genotype.json")
        return genotype, tuner


