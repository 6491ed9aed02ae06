"""egs-mobilenet: searches a MobileNetV2-style Keras model with EGSChoice blocks, derives
it, retrains it next to the largest and a random network, and exports it.

    egs-mobilenet --config=configs/mobilenet_digits.py --workdir=runs/mobilenet \
        [--config.search.epochs=4]

Writes <workdir>/results.json (search time; test accuracy, parameters and inference latency
of the searched, largest and random networks), search.keras with search.architecture.json,
and the SavedModel in export/<version>/.
"""

import json

from absl import flags
from ml_collections import config_flags

from egs_keras.examples import mobilenet
from trainers import startup

CONFIG = config_flags.DEFINE_config_file("config", None, "Example config file.")
WORKDIR = flags.DEFINE_string("workdir", None, "Work directory of the run.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    startup.begin(argv)
    results = mobilenet.run(CONFIG.value, WORKDIR.value)
    print(json.dumps(results, indent=2))
    print(f"Work directory: {WORKDIR.value}")


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
