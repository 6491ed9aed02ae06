"""Shared pytest setup: quiet TensorFlow logs, deterministic numpy; `fresh_process`, a
SavedModel's outputs computed by a new process that never imports egs_keras."""

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
