"""egs-search: runs (or resumes) an EGS cell search and writes the genotype.

    egs-search --config=configs/demo.py --workdir=runs/search [--config.search.epochs=3]

Writes <workdir>/genotype.json, <workdir>/cells/*.png, history.csv, logs/ and checkpoints/.
"""

from absl import flags

from egs_keras import runs
from trainers import run_flags
from trainers import startup

CONFIG = run_flags.define_config()
WORKDIR = run_flags.define_workdir()
STRATEGY = run_flags.define_strategy()
flags.adopt_module_key_flags(run_flags)  # listed by --help
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    startup.begin(argv)
    genotype = runs.run_search(run_flags.resolved_config(CONFIG), WORKDIR.value,
                                     STRATEGY.value)
    print(genotype.to_json())
    print(f"Work directory: {WORKDIR.value}")


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
