"""Logging of the trainers: warnings and errors only (and no TFDS progress bars) unless
--verbosity (or -v) is given; Keras' progress lines carry the information."""

import tensorflow_datasets as tfds
from absl import flags
from absl import logging


def quiet_logging():
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
        tfds.disable_progress_bar()
