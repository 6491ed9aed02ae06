"""egs-compare: searched versus random genotypes at an equal retraining budget, over seeds.

    egs-compare --config=configs/demo.py --workdir=runs/compare --seeds=0,1,2 --epochs=5

For every seed: an EGS search and its derived genotype, and a genotype drawn uniformly from the
same space; each retrained for --epochs epochs and scored on the validation data. Prints the
table (mean ± std, every seed) and writes comparison.md, comparison.json and comparison.png.
Resumable: the same command continues where it stopped.
"""

from absl import flags

from egs_keras.tuning import seeds
from trainers import run_flags
from trainers import startup

CONFIG = run_flags.define_config()
WORKDIR = run_flags.define_workdir()
SEEDS = run_flags.define_seeds()
STRATEGY = run_flags.define_strategy()
EPOCHS = flags.DEFINE_integer("epochs", 5, "Retraining epochs of every genotype.",
                              lower_bound=1)
flags.adopt_module_key_flags(run_flags)  # listed by --help
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    startup.begin(argv)
    result = seeds.compare_with_random(run_flags.resolved_config(CONFIG), WORKDIR.value,
                                       SEEDS.value, EPOCHS.value, STRATEGY.value)
    print(result["table"])
    print(f"Work directory: {WORKDIR.value} (comparison.md, comparison.json, comparison.png)")


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
