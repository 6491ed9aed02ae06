"""egs-train: trains (or resumes training) the evaluation network of a genotype and reports
its test accuracy.

    egs-train --config=configs/demo.py --workdir=runs/train --genotype=runs/search/genotype.json
    egs-train --config=configs/cifar10_eval.py --workdir=runs/darts_v2 --genotype=darts_v2
"""

import json

from absl import flags

from egs_keras import runs
from trainers import run_flags
from trainers import startup

CONFIG = run_flags.define_config()
WORKDIR = run_flags.define_workdir()
STRATEGY = run_flags.define_strategy()
GENOTYPE = run_flags.define_genotype()
flags.adopt_module_key_flags(run_flags)  # listed by --help
flags.mark_flags_as_required(["config", "workdir", "genotype"])


def main(argv):
    startup.begin(argv)
    results = runs.run_training(run_flags.resolved_config(CONFIG), WORKDIR.value,
                                     GENOTYPE.value, STRATEGY.value)
    results.pop("model")
    print(json.dumps(results, indent=2))
    print(f"Work directory: {WORKDIR.value}")


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
