"""Runs the pytest files given on the command line: the `main` of every `pytest_test`."""

import os
import sys

import pytest

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(pytest.main(["-q", "--rootdir", os.getcwd(), *sys.argv[1:]]))
