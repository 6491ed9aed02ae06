"""The package version, read by setup.py and exposed as `egs_keras.__version__`."""

__version__ = "0.1.0"
