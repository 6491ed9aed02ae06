"""egs-tune: keras-tuner searches over a config's search space, resumable from --workdir.

    egs-tune --tuner=random   --config=configs/demo.py --workdir=runs/random --trials=10
    egs-tune --tuner=settings --config=configs/demo.py --workdir=runs/tune --trials=8
    egs-tune --tuner=seeds    --config=configs/demo.py --workdir=runs/seeds --seeds=0,1,2

random: the paper's random-search baseline (genotypes drawn uniformly from the EGS space);
settings: trials are whole EGS searches with tuned M, temperature schedule, architecture
learning rate (and λ with a cost prior); seeds: one search per seed, the best kept, mean ± std.
Every candidate is retrained for --epochs epochs and scored on validation data.
"""

import json

from absl import flags

from egs_keras.tuning import random_search
from egs_keras.tuning import seeds
from egs_keras.tuning import settings_tuner
from trainers import run_flags
from trainers import startup

CONFIG = run_flags.define_config()
WORKDIR = run_flags.define_workdir()
TUNER = flags.DEFINE_enum(
    "tuner", "random", ["random", "settings", "seeds"],
    "What to run: 'random' (random genotypes), 'settings' (tuned EGS searches) or 'seeds' "
    "(one search per seed, best kept).")
TRIALS = flags.DEFINE_integer("trials", 10, "Trials of the random and settings tuners.",
                              lower_bound=1)
EPOCHS = flags.DEFINE_integer("epochs", 5, "Retraining epochs of every scored genotype.",
                              lower_bound=1)
SEEDS = run_flags.define_seeds()
STRATEGY = run_flags.define_strategy()
ORACLE = flags.DEFINE_enum("oracle", "random", list(settings_tuner.ORACLES),
                           "The settings tuner's keras-tuner oracle.")
flags.adopt_module_key_flags(run_flags)  # listed by --help
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    startup.begin(argv)
    config = run_flags.resolved_config(CONFIG)
    if TUNER.value == "random":
        genotype, _ = random_search.run_random_search(config, WORKDIR.value, TRIALS.value,
                                                      EPOCHS.value, strategy=STRATEGY.value)
        print(genotype.to_json())
    elif TUNER.value == "settings":
        values, _ = settings_tuner.run_settings_search(config, WORKDIR.value, TRIALS.value,
                                                       EPOCHS.value, oracle=ORACLE.value,
                                                       strategy=STRATEGY.value)
        print(json.dumps(values, indent=2))
    else:
        summary = seeds.run_multi_seed(config, WORKDIR.value, SEEDS.value, EPOCHS.value,
                                       STRATEGY.value)
        summary.pop("best_genotype")
        print(json.dumps(summary, indent=2))
    print(f"Work directory: {WORKDIR.value} (best_genotype.json)")


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
