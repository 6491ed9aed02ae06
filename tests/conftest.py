"""Shared pytest setup: quiet TensorFlow logs, deterministic numpy."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
