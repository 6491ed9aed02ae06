"""The random-search baseline of the paper, as a keras-tuner search: each trial trains the
evaluation network of a genotype drawn uniformly from the EGS space (`random_genotype`).

>>> best, tuner = run_random_search(config, "runs/random", num_trials=10,
...                                 epochs_per_trial=5)          # doctest: +SKIP

The trial's only hyperparameter is the genotype's seed, so every trial is recorded by
keras-tuner (`<directory>/random_search/trial_*/trial.json`) and its genotype can be rebuilt
with `random_genotype(..., seed=...)`. The tuner directory is resumable: the same call after an
interruption reloads the finished trials and runs only the missing ones. Trials train on the
search split (`config.search.train_split`) and are scored on `config.search.valid_split`, never
on the test split.
"""

import keras
import keras_tuner as kt

from egs_keras import search_space
from egs_keras.data import image_datasets
from egs_keras.training import records
from egs_keras.training import train_run

MAX_SEED = 2**31 - 1


class RandomGenotypeHyperModel(kt.HyperModel):
    """Builds the evaluation network of `config.train` for a random genotype of the space of
    `config.search` (M = `num_samples`, its primitives and nodes)."""

    def __init__(self, config, steps_per_epoch):
        super().__init__(name="random_genotype")
        self.config = config
        self.steps_per_epoch = steps_per_epoch

    def genotype(self, seed):
        search = self.config.search
        return search_space.random_genotype(
            search.num_samples, primitives=search.primitives,
            num_intermediate=search.num_nodes - 3, seed=seed, name=f"random_{seed}")

    def build(self, hp):
        seed = hp.Int("genotype_seed", 0, MAX_SEED)
        return train_run.build_evaluation_model(self.config, self.genotype(seed),
                                                self.steps_per_epoch)


def run_random_search(config, directory, num_trials, epochs_per_trial, seed=None):
    """Runs (or resumes) `num_trials` trials of `epochs_per_trial` epochs each; returns
    (the best trial's genotype, the tuner)."""
    directory = records.prepare_workdir(directory)
    records.write_config(config, directory)
    data, search = config.data, config.search
    spec, image_size, (train, valid) = image_datasets.load_config_splits(
        data, search.train_split, search.valid_split)
    batch_size = config.train.batch_size
    steps = image_datasets.num_examples(train) // batch_size
    hypermodel = RandomGenotypeHyperModel(config, steps)
    tuner = kt.RandomSearch(
        hypermodel, objective=kt.Objective("val_accuracy", "max"), max_trials=num_trials,
        seed=config.seed if seed is None else seed, directory=str(directory),
        project_name="random_search", overwrite=False)
    batches, steps = image_datasets.training_batches(
        train, spec, image_size, batch_size, config.seed, epochs_per_trial)
    validation = image_datasets.evaluation_batches(valid, spec, image_size, batch_size)
    tuner.search(batches, validation_data=validation, epochs=epochs_per_trial,
                 steps_per_epoch=steps, verbose=0, shuffle=False,
                 callbacks=[keras.callbacks.TerminateOnNaN()])
    best = tuner.get_best_hyperparameters(1)[0]
    genotype = hypermodel.genotype(best.get("genotype_seed"))
    genotype.save(directory / "best_genotype.json")
    return genotype, tuner
