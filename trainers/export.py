"""egs-export: writes a trained network as a SavedModel in TF Serving's layout, and LiteRT
files inside it with --format=litert.

    egs-export --workdir=runs/train [--export_base=models/egs] [--version=3]
    egs-export --workdir=runs/train --checkpoint=runs/train/checkpoints/ckpt-5
    egs-export --workdir=runs/train --format=litert [--litert_quantizations=float32,int8]
"""

from absl import flags

from egs_keras import runs
from egs_keras.export import formats
from egs_keras.export import litert
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

FORMAT = flags.DEFINE_multi_enum(
    "format", ["saved_model"], list(formats.FORMATS),
    "What to write: saved_model (always; TF Serving reads the version directory) and litert "
    "(.tflite files and litert.json in <version>/litert/; a version exported before without "
    "them gets them). Repeat the flag or give one: --format=litert.")
LITERT_QUANTIZATIONS = flags.DEFINE_list(
    "litert_quantizations", list(litert.QUANTIZATIONS),
    "The LiteRT files to write, of float32, dynamic_range (int8 weights) and int8 (full "
    "integer, calibrated on the run's training data).")


def main(argv):
    startup.begin(argv)
    path = runs.export_training_run(WORKDIR.value, EXPORT_BASE.value, VERSION.value,
                                    CHECKPOINT.value, ["saved_model", *FORMAT.value],
                                    LITERT_QUANTIZATIONS.value)
    print(path)


def run_main():
    startup.run(main)


if __name__ == "__main__":
    run_main()
