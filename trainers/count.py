"""egs-count: parameters and multiply-adds of the evaluation network a config and a genotype
describe, without training.

    egs-count --config=configs/cifar10_eval.py --genotype=darts_v2
    egs-count --config=configs/imagenet_eval.py --genotype=runs/search/genotype.json
"""

import json

from absl import flags

from egs_keras import runs
from trainers import run_flags
from trainers import startup

CONFIG = run_flags.define_config()
GENOTYPE = run_flags.define_genotype()
flags.adopt_module_key_flags(run_flags)  # listed by --help
flags.mark_flags_as_required(["config", "genotype"])


def main(argv):
    startup.begin(argv)
    counts = runs.count_network(run_flags.resolved_config(CONFIG), GENOTYPE.value)
    print(json.dumps(counts, indent=2))


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
