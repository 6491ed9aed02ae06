"""egs-export: writes a trained network as a SavedModel in TF Serving's layout.

    egs-export --workdir=runs/train [--export_base=models/egs] [--version=3]
    egs-export --workdir=runs/train --checkpoint=runs/train/checkpoints/ckpt-5
"""

from absl import flags

from egs_keras import runs
from trainers import startup

WORKDIR = flags.DEFINE_string(
    "workdir", None,
    "The training run to export: the --workdir of egs-train, or <pipeline workdir>/train. "
    "Its config.json and genotype.json rebuild the network.", required=True)
EXPORT_BASE = flags.DEFINE_string(
    "export_base", None,
    "Directory that TF Serving watches; the model goes to <export_base>/<version>/. "
    "Default: <workdir>/../export.")
VERSION = flags.DEFINE_integer(
    "version", None, "Integer version directory to write (1 to 2**63 - 1, as TF Serving "
    "reads it). Default: the next free one.", lower_bound=1, upper_bound=2**63 - 1)
CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None,
    "A checkpoint prefix to export instead of the newest one, e.g. <workdir>/checkpoints/ckpt-5.")


def main(argv):
    startup.begin(argv)
    path = runs.export_training_run(WORKDIR.value, EXPORT_BASE.value, VERSION.value,
                                          CHECKPOINT.value)
    print(path)


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
