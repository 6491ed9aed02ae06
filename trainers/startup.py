"""Start-up of the trainers: no positional arguments; warnings and errors only (and no TFDS
progress bars) unless --verbosity (or -v) is given, Keras' progress lines carry the rest;
under `bazel run`, relative paths (--workdir, data directories) are the caller's.

Each trainer ends with `startup.run(main)`, and its `main` begins with `startup.begin(argv)`;
importing a trainer does nothing else.
"""

import os
import sys

import tensorflow_datasets as tfds
from absl import app
from absl import flags
from absl import logging

from egs_keras import _validation
from egs_keras.data import availability
from egs_keras.training import strategies

# Flags naming files or directories: an empty value is refused (absl only rejects a
# missing required flag, and `pathlib.Path("")` is the current directory).
PATH_FLAGS = {"workdir": "runs/demo", "export_base": "models/egs",
              "checkpoint": "runs/demo/train/checkpoints/ckpt-5", "genotype": "darts_v2"}


def run(main):
    """`app.run(main)` for a trainer. `bazel run` starts binaries in their runfiles tree; this
    first goes back to the caller's directory, before the flags are parsed, so that --config,
    --workdir and data paths mean what the caller typed."""
    if "BUILD_WORKING_DIRECTORY" in os.environ:
        os.chdir(os.environ["BUILD_WORKING_DIRECTORY"])
    app.run(_without_traceback(main))


def _without_traceback(main):
    """`main`, with a data set missing on this machine said in its message alone (the
    message says what to do; a traceback would bury it)."""
    def run(argv):
        try:
            return main(argv)
        except availability.DataUnavailableError as error:
            sys.exit(f"Error: {error}")
    return run


def begin(argv):
    """What every trainer's main does first: reject positional arguments, quiet the logs,
    split the CPU for --cpu_replicas and create a multi_worker or tpu strategy (both before
    TensorFlow starts its devices)."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}; all options are flags.")
    for name, example in PATH_FLAGS.items():
        if name in flags.FLAGS:
            try:
                _validation.check_path(f"--{name}", flags.FLAGS[name].value,
                                       f"--{name}={example}")
            except ValueError as error:
                raise app.UsageError(str(error)) from None
    quiet_logging()
    replicas = flags.FLAGS["cpu_replicas"].value if "cpu_replicas" in flags.FLAGS else 0
    if replicas > 1:
        strategies.use_cpu_replicas(replicas)
        print(f"CPU split into {replicas} logical devices (for --strategy=mirrored).")
    strategy = flags.FLAGS["strategy"].value if "strategy" in flags.FLAGS else "default"
    if strategy in ("multi_worker", "tpu"):  # must exist before TensorFlow runs anything
        try:
            strategies.get_strategy(strategy)
        except ValueError as error:
            raise app.UsageError(str(error)) from None


def quiet_logging():
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
        tfds.disable_progress_bar()
