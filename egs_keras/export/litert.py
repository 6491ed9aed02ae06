"""LiteRT export (the runtime formerly called TensorFlow Lite): `.tflite` files of a trained
network, for phones, microcontrollers and browsers.

>>> files = export_litert(classifier_signature(model), "runs/demo/export/1/litert",
...                       representative=train_images)                   # doctest: +SKIP
>>> LiteRTModel(files["int8"])(images=batch)["probabilities"]            # doctest: +SKIP

The converter is TensorFlow's (`tf.lite.TFLiteConverter`, from a SavedModel of one signature,
`serve`); the interpreter is LiteRT's (`pip install egs_keras[litert]`, XNNPACK on CPU).
Quantizations (`QUANTIZATIONS`):

* `float32`: as trained; outputs match Keras within 1e-4.
* `dynamic_range`: int8 weights, float activations (weights 4× smaller, no data needed).
* `int8`: full-integer weights and activations, calibrated on `representative` inputs (the
  run's own training data). Inputs and outputs stay float32 (quantized and dequantized in the
  file), so one client runs all three files; integer-only devices can read the scales from
  `litert.json`.

`export_litert` writes `model_<quantization>.tflite` and `litert.json` (the signature's
inputs and outputs with shapes, dtypes and quantization, each file's size and sha256, the
converter's version) into a directory it creates atomically. An operation that LiteRT's
built-in operations cannot run is a `ValueError` naming it.
"""

import collections
import hashlib
import json
import os
import pathlib
import re
import shutil
import statistics
import tempfile
import time
import uuid
import warnings

import numpy as np
import tensorflow as tf

# Converted from a concrete function, a layer's resource variables stay READ_VARIABLE ops
# that read NaN in the interpreter; `function_file` freezes them into constants first.
from tensorflow.python.framework import convert_to_constants

from egs_keras import _validation

QUANTIZATIONS = ("float32", "dynamic_range", "int8")
DETAILS_FILE = "litert.json"
SIGNATURE = "serve"
REPRESENTATIVE_SAMPLES = 100  # calibration inputs for int8 (TF's guide: ~100-500)

Signature = collections.namedtuple("Signature", ["model", "inputs", "serve"])
Signature.__doc__ = """What a `.tflite` file computes: `serve(**inputs)` → {name: tensor},
with `inputs` a list of named `tf.TensorSpec`s (batch dimension None) and `model` the Keras
model whose weights it reads."""


def classifier_signature(model):
    """`images` float32 `[N, H, W, C]` (normalised as in evaluation) → `logits`,
    `probabilities` `[N, classes]`, for an image classifier (an `EvaluationNetwork`, a network
    `derive()`d from a `SearchModel`, or any Keras model with a fixed input shape)."""
    from egs_keras.export import saved_model  # the shapes and their checks live there

    image_shape, _ = saved_model.classifier_shapes(model)
    spec = tf.TensorSpec([None, *image_shape], tf.float32, "images")
    return Signature(model, [spec], _logits_and_probabilities(model))


def _logits_and_probabilities(model):
    def serve(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    return serve


def segmenter_signature(model, size):
    """`images` float32 `[N, size, size, C]` → `logits` and `probabilities` `[N, size, size,
    classes]` for a `SegmentationNetwork` (LiteRT files have one input size: `size`, e.g. the
    data set's evaluation size, a multiple of the output stride)."""
    if size % model.output_stride:
        raise ValueError(f"Received size={size}; expected a multiple of the network's output "
                         f"stride {model.output_stride}.")
    spec = tf.TensorSpec([None, size, size, model.channels], tf.float32, "images")
    return Signature(model, [spec], _logits_and_probabilities(model))


def language_model_signature(model, steps):
    """`token_ids` int32 `[N, steps]` and `state` float32 `[N, state_size]` (zeros to start)
    → `logits` `[N, steps, V]`, `next_token_probabilities` `[N, V]` and the next `state`, as
    the SavedModel's `serving_default` (the recurrence is unrolled over `steps` tokens)."""
    sizes = model.state_sizes

    def serve(token_ids, state):
        states = tf.split(state, sizes, axis=-1) if len(sizes) > 1 else [state]
        unroll, model.rnn.unroll = model.rnn.unroll, True  # LiteRT has no TensorList loop
        try:
            logits, states = model.forward(token_ids, states)
        finally:
            model.rnn.unroll = unroll
        logits = tf.cast(logits, tf.float32)
        return {"logits": logits, "next_token_probabilities": tf.nn.softmax(logits[:, -1]),
                "state": tf.concat(states, axis=-1)}

    return Signature(model, [tf.TensorSpec([None, steps], tf.int32, "token_ids"),
                             tf.TensorSpec([None, sum(sizes)], tf.float32, "state")], serve)


def convert(signature, quantization="float32", representative=None):
    """The `.tflite` bytes of `signature` (see `QUANTIZATIONS`); `representative`: for int8,
    a list of {input name: array of one example} (`representative_inputs`)."""
    return convert_all(signature, [quantization], representative)[quantization]


def convert_all(signature, quantizations=QUANTIZATIONS, representative=None):
    """{quantization: `.tflite` bytes} of `signature`, converted from one SavedModel."""
    quantizations = check_quantizations(quantizations)
    if "int8" in quantizations and not representative:
        raise ValueError("Received no representative inputs for int8 quantization; pass "
                         "`representative` (e.g. ~100 training images, "
                         "`representative_inputs`) or choose float32 or dynamic_range.")
    files = {}
    with tempfile.TemporaryDirectory(prefix="egs-litert-") as directory:
        # A bare SavedModel of the one signature and the weights it reads (TensorFlow's own
        # variables under Keras'): half the time of keras.export.ExportArchive.
        module = tf.Module()
        module.weights = [v.value for v in signature.model.variables]
        serve = tf.function(signature.serve).get_concrete_function(*signature.inputs)
        tf.saved_model.save(module, directory, signatures={SIGNATURE: serve})
        for quantization in quantizations:
            converter = tf.lite.TFLiteConverter.from_saved_model(directory, [SIGNATURE])
            if quantization != "float32":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantization == "int8":
                converter.representative_dataset = lambda: iter(representative)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            try:
                with warnings.catch_warnings():  # int8 calibration runs TF's own interpreter,
                    warnings.filterwarnings(    # which warns that users should not
                        "ignore", message=".*tf.lite.Interpreter is deprecated")
                    files[quantization] = converter.convert()
            except Exception as error:  # the converter raises ConverterError, RuntimeError
                raise ValueError(_conversion_message(signature, quantization,
                                                     error)) from error
    return files


def _conversion_message(signature, quantization, error):
    text = str(error)
    operations = sorted(set(re.findall(r"'tf\.(\w+)' op", text)))
    places = dict(re.findall(r'fused\["(\w+):", "([^"@]+)/[^"/@]+@', text))
    what = ("TensorFlow operations " + ", ".join(
        f"{op} (in {places[op]})" if op in places else op for op in operations)
        + " have no LiteRT built-in equivalent" if operations
        else text.strip().splitlines()[-1][:500])
    return (f"Could not convert {signature.model.name!r} to LiteRT ({quantization}): {what}. "
            "Export it as a SavedModel only (formats saved_model), or build it from layers "
            "LiteRT can run.")


def representative_inputs(examples, name, count=REPRESENTATIVE_SAMPLES):
    """[{name: one example with a batch dimension of 1}] from the first `count` rows of the
    array `examples` (int8 calibration data)."""
    examples = np.asarray(examples)
    return [{name: examples[i:i + 1]} for i in range(min(count, len(examples)))]


def export_litert(signature, directory, quantizations=QUANTIZATIONS, representative=None):
    """Writes `model_<quantization>.tflite` for each of `quantizations` and `litert.json` into
    `directory` (written under a temporary name, then renamed: an error leaves nothing);
    returns {quantization: path of its file}. `directory` must not exist."""
    return write_files(convert_all(signature, quantizations, representative), directory,
                       representative)


def write_files(files, directory, representative=None):
    """Writes converted `files` ({quantization: .tflite bytes}) and `litert.json` into the new
    `directory` (atomically); returns {quantization: path}."""
    target = pathlib.Path(directory)
    if target.exists() or target.is_symlink():
        raise FileExistsError(f"{str(target)!r} exists already; export LiteRT files into a "
                              "new directory.")
    temporary = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex}"
    temporary.mkdir(parents=True)
    try:
        details = {"signature": SIGNATURE, "converter": f"tensorflow {tf.__version__}",
                   "files": {}}
        for quantization, content in files.items():
            name = f"model_{quantization}.tflite"
            (temporary / name).write_bytes(content)
            details["files"][quantization] = {
                "file": name, "bytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                **_input_output_details(content)}
        if "int8" in files:
            details["representative_samples"] = len(representative)
        (temporary / DETAILS_FILE).write_text(json.dumps(details, indent=2) + "\n",
                                              encoding="utf-8")
        os.rename(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return {q: target / f"model_{q}.tflite" for q in files}


def check_quantizations(quantizations, field="quantizations"):
    """`quantizations` (a list or a comma-separated string) as a tuple in `QUANTIZATIONS`
    order, or a ValueError naming `field`."""
    listed = ([q for q in quantizations.split(",") if q] if isinstance(quantizations, str)
              else list(quantizations))
    if not listed or any(q not in QUANTIZATIONS for q in listed):
        raise _validation.invalid(field, f"one or more of {', '.join(QUANTIZATIONS)}",
                                  quantizations)
    return tuple(q for q in QUANTIZATIONS if q in listed)


def _tensor_details(details):
    scale, zero_point = details["quantization"]
    return {"name": details["name"], "shape": [int(d) for d in details["shape_signature"]],
            "dtype": np.dtype(details["dtype"]).name,
            **({"scale": float(scale), "zero_point": int(zero_point)} if scale else {})}


def _input_output_details(content):
    signature = interpreter_class()(model_content=content).get_signature_runner(SIGNATURE)
    return {"inputs": {k: _tensor_details(v)
                       for k, v in sorted(signature.get_input_details().items())},
            "outputs": {k: _tensor_details(v)
                        for k, v in sorted(signature.get_output_details().items())}}


def interpreter_class():
    """LiteRT's `Interpreter` (from `ai_edge_litert`), or an ImportError saying how to get it
    (call it before long work that ends in a LiteRT export, to fail first)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise ImportError("Running LiteRT files needs the LiteRT interpreter: pip install "
                          "'egs_keras[litert]' (the ai-edge-litert package).") from error
    return Interpreter


class LiteRTModel:
    """A `.tflite` file (path or bytes) in LiteRT's interpreter, called like the signature:

    >>> LiteRTModel("model_int8.tflite", num_threads=2)(images=batch)["logits"]  # doctest: +SKIP

    Any batch size is accepted (the input is resized when its shape changes)."""

    def __init__(self, model, num_threads=None):
        content = model if isinstance(model, bytes) else pathlib.Path(model).read_bytes()
        self.interpreter = interpreter_class()(model_content=content, num_threads=num_threads)
        self._runner = self.interpreter.get_signature_runner(SIGNATURE)

    def __call__(self, **inputs):
        return {k: np.array(v) for k, v in self._runner(**inputs).items()}


def function_file(call, input_shape):
    """The float32 `.tflite` bytes of `call` on one float32 input of the fixed `input_shape`,
    its variables frozen into constants: what one operation of a deployed network runs (for
    timing it; exports keep named signatures with `convert`)."""
    function = tf.function(call).get_concrete_function(tf.TensorSpec(input_shape, tf.float32))
    frozen = convert_to_constants.convert_variables_to_constants_v2(function)
    # (A frozen function has no variables to keep alive: an empty module stands for them.)
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen], tf.Module()).convert()


def inference_milliseconds(call, input_shape, num_threads=1, repeats=100):
    """Median milliseconds of one inference of `call` on an input of `input_shape` in LiteRT's
    interpreter (XNNPACK, `num_threads` threads), the input set once and only `invoke` timed.

    >>> inference_milliseconds(lambda x: tf.nn.relu(x), (1, 16, 16, 8))   # doctest: +SKIP
    """
    interpreter = interpreter_class()(model_content=function_file(call, input_shape),
                                      num_threads=num_threads)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, np.random.default_rng(0).normal(
        size=input_shape).astype(np.float32))
    return median_milliseconds(interpreter.invoke, repeats, warmup=10)


def median_milliseconds(call, repeats=20, warmup=3):
    """Median milliseconds of `call()` over `repeats` calls after `warmup` calls.

    >>> median_milliseconds(lambda: LiteRTModel(path)(images=batch))   # doctest: +SKIP
    """
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
