"""Shared pytest setup: quiet TensorFlow logs; the test tiers (every file outside the fast
tier of tools/bazel/test_tiers.bzl is marked `slow`, so `pytest -m "not slow"` runs what
Bazel's fast tier runs); `fresh_process`, a SavedModel's outputs computed by a new process
that never imports egs_keras."""

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


def pytest_collection_modifyitems(config, items):
    fast, root = fast_tests(), pathlib.Path(config.rootpath)
    for item in items:
        if item.path.relative_to(root).as_posix() not in fast:
            item.add_marker(pytest.mark.slow)

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
