"""Size and latency of an exported version side by side: its SavedModel in TensorFlow and each
of its LiteRT files in LiteRT's interpreter, on one example (batch 1), as a deployed network
answers one request. `egs-pipeline` prints it for configs exporting LiteRT (the demo).

>>> compare_runtimes("runs/demo/export/1", num_threads=2)                  # doctest: +SKIP
{'saved_model': {'bytes': 1104813, 'milliseconds': 3.1}, 'litert_float32': {...}, ...}
"""

import pathlib

import numpy as np
import tensorflow as tf

from egs_keras import record_files
from egs_keras.export import formats
from egs_keras.export import litert


def _one_example(inputs):
    """Zeros of each input's shape with a batch of 1 ({name: array})."""
    return {name: np.zeros([max(d, 1) for d in spec["shape"]], spec["dtype"])
            for name, spec in inputs.items()}


def directory_bytes(path, exclude=()):
    """Total size of the regular files under `path`, outside the subdirectories `exclude`."""
    path = pathlib.Path(path)
    return sum(f.stat().st_size for f in path.rglob("*")
               if f.is_file() and not f.is_symlink()
               and f.relative_to(path).parts[0] not in exclude)


def compare_runtimes(version_dir, num_threads=None, repeats=20):
    """{runtime: {"bytes", "milliseconds"}} for the SavedModel of `version_dir` (its
    `serving_default`, TensorFlow) and each `litert/model_<quantization>.tflite` (LiteRT), the
    median of `repeats` single-example calls after three warm-up calls."""
    version_dir = pathlib.Path(version_dir)
    lite_dir = version_dir / formats.LITERT_DIRECTORY
    details = record_files.read_json(lite_dir / litert.DETAILS_FILE,
                                     "the LiteRT files' details")
    example = _one_example(next(iter(details["files"].values()))["inputs"])
    served = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    tensors = {name: tf.constant(value) for name, value in example.items()}
    table = {"saved_model": {
        "bytes": directory_bytes(version_dir, exclude=(formats.LITERT_DIRECTORY,)),
        "milliseconds": litert.median_milliseconds(lambda: served(**tensors), repeats)}}
    for quantization, entry in details["files"].items():
        runner = litert.LiteRTModel(lite_dir / entry["file"], num_threads)
        table[f"litert_{quantization}"] = {
            "bytes": entry["bytes"],
            "milliseconds": litert.median_milliseconds(lambda r=runner: r(**example), repeats)}
    return {name: {"bytes": row["bytes"], "milliseconds": round(row["milliseconds"], 3)}
            for name, row in table.items()}
