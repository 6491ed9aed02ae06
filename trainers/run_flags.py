"""Flags shared by the trainers: --config (with --config.<field>=value overrides), --workdir,
--strategy; and the resolved, validated config."""

from absl import flags
from ml_collections import config_flags

from egs_keras.training import config as run_config
from egs_keras.training import strategies

CONFIG = config_flags.DEFINE_config_file(
    "config", None,
    "Path to a Python config file that defines get_config(), for example configs/demo.py. "
    "Any field can be overridden on the command line, for example --config.search.epochs=3.",
    lock_config=True)
WORKDIR = flags.DEFINE_string(
    "workdir", None,
    "Directory of the run: config, records, checkpoints and results are written here. "
    "Running the same command again resumes from the last checkpoint in it.")
STRATEGY = flags.DEFINE_enum(
    "strategy", "default", list(strategies.STRATEGIES),
    "The tf.distribute strategy: 'default' (one device), 'one_device' (the first GPU, else "
    "the CPU) or 'mirrored' (all local GPUs; batch sizes in the config are global).")

flags.mark_flags_as_required(["config", "workdir"])


def resolved_config():
    """The config after command-line overrides, checked field by field."""
    return run_config.validate_config(CONFIG.value)

