"""Flags shared by the trainers, defined by the binaries that use them; the resolved, validated
config; and a fail-fast check of the work directory."""

from absl import flags
from ml_collections import config_flags

from egs_keras.runs import tasks
from egs_keras.training import strategies


def define_config():
    return config_flags.DEFINE_config_file(
        "config", None,
        "Path to a Python config file that defines get_config(), for example configs/demo.py. "
        "Any field can be overridden on the command line, for example "
        "--config.search.epochs=3.", lock_config=True)


def define_workdir():
    return flags.DEFINE_string(
        "workdir", None,
        "Directory of the run: config, records, checkpoints and results are written here. "
        "Running the same command again resumes from the last checkpoint in it.")


def define_strategy():
    flags.DEFINE_integer(
        "cpu_replicas", 0,
        "Without GPUs: split the CPU into this many logical devices, so that "
        "--strategy=mirrored runs that many replicas (for tests and benchmarks; 0 or 1: no "
        "split).", lower_bound=0)
    return flags.DEFINE_enum(
        "strategy", "default", list(strategies.STRATEGIES),
        "The tf.distribute strategy: 'default' (one device), 'one_device' (the first GPU, "
        "else the CPU), 'mirrored' (all local GPUs, else the logical CPUs of "
        "--cpu_replicas), 'multi_worker' (the cluster in TF_CONFIG; run the same command on "
        "every worker) or 'tpu' (the TPU of this TPU VM, or TPU_NAME). Batch sizes in the "
        "config are global.")


def define_genotype():
    return flags.DEFINE_string(
        "genotype", None,
        "The architecture: a genotype JSON file written by egs-search, or the name of a "
        "published genotype (darts_v1, darts_v2).")


def define_seeds():
    return flags.DEFINE_list(
        "seeds", ["0", "1", "2"],
        "Comma-separated seeds: one search (and one random genotype, in egs-compare) per seed.")


def resolved_config(config_flag):
    """The config after command-line overrides, checked field by field."""
    if config_flag.value is None:
        raise flags.ValidationError("Flag --config must name a config file, e.g. "
                                    "--config=configs/demo.py.")
    return tasks.validate_config(config_flag.value)
