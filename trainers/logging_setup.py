"""Logging of the trainers: warnings and errors only unless --verbosity (or -v) is given;
Keras' progress lines carry the information."""

from absl import flags
from absl import logging


def quiet_logging():
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
