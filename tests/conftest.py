"""Shared pytest setup: quiet TensorFlow logs; the test tiers (every file outside the fast
tier of tools/bazel/test_tiers.bzl is marked `slow`, so `pytest -m "not slow"` runs what
Bazel's fast tier runs); the longest modules first; `fresh_process`, a SavedModel's outputs
computed by a new process that never imports egs_keras."""

import ast
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TIERS = pathlib.Path(__file__).parents[1] / "tools" / "bazel" / "test_tiers.bzl"


def fast_tests():
    """The fast tier's files (paths from the repository root), as Bazel's BUILD loads them."""
    for node in ast.parse(TIERS.read_text()).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "FAST_TESTS":
            return set(ast.literal_eval(node.value))
    raise RuntimeError(f"{TIERS} defines no FAST_TESTS list")


# The longest modules (the durations CI prints), started first: `make test` hands whole modules
# to its two workers in collection order, so a long module started last would leave one
# worker idle at the end. Only the order depends on this list.
LONGEST_FIRST = (
    "tests/training/xla_test.py",
    "tests/runs/segmentation_runs_test.py",
    "tests/runs/pipeline_test.py",
    "tests/models/search_network_test.py",
    "tests/examples/mobilenet_test.py",
    "tests/tuning/seeds_test.py",
    "tests/tuning/random_search_test.py",
    "tests/runs/language_runs_test.py",
    "tests/reliability/seeded_language_runs_test.py",
)


def pytest_collection_modifyitems(config, items):
    fast, root = fast_tests(), pathlib.Path(config.rootpath)
    for item in items:
        if item.path.relative_to(root).as_posix() not in fast:
            item.add_marker(pytest.mark.slow)

    def rank(item):
        path = item.path.relative_to(root).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: tests keep their order within a module

_FRESH_PROCESS = """
import sys
import numpy as np
import tensorflow as tf
path, signature, inputs, outputs = sys.argv[1:]
served = tf.saved_model.load(path)
with np.load(inputs) as arrays:
    result = served.signatures[signature](**{k: tf.constant(v) for k, v in arrays.items()})
np.savez(outputs, **{k: v.numpy() for k, v in result.items()})
assert "egs_keras" not in sys.modules
"""


@pytest.fixture
def fresh_process(tmp_path):
    """A function: (SavedModel directory, signature name, {input name: array}) → {output name:
    array}, computed by a new Python process that loads the SavedModel and never imports
    egs_keras (as TF Serving sees a model)."""

    def serve(path, signature, inputs):
        np.savez(tmp_path / "inputs.npz", **inputs)
        subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(path), signature,
                        str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")],
                       check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                       timeout=300)
        with np.load(tmp_path / "outputs.npz") as outputs:
            return dict(outputs)

    return serve
