"""LiteRT export: the demo's own trained network (tests/data/demo_network) converted three ways
and run in LiteRT's interpreter on the demo's 297 test digits, and every other kind of network
the package trains or derives, converted and compared with Keras."""

import hashlib
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.data import image_datasets
from egs_keras.export import litert
from egs_keras.layers import EGSChoice
from egs_keras.models import EvaluationNetwork
from egs_keras.models import SearchModel
from egs_keras.models.segmentation_network import SegmentationNetwork

DEMO_NETWORK = pathlib.Path(__file__).parents[1] / "data" / "demo_network"
FLOAT_TOLERANCE = 1e-4  # the bound on float32 logits against Keras


def _digits(split, data_dir):
    spec = image_datasets.get_dataset("egs_digits")
    examples = image_datasets.load_examples("egs_digits", split, data_dir)
    images, labels = next(iter(image_datasets.evaluation_batches(examples, spec, 16, 5000)))
    return images.numpy(), labels.numpy()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's trained network, its test digits, Keras' logits and the three files."""
    genotype = search_space.Genotype.load(DEMO_NETWORK / "genotype.json")
    model = EvaluationNetwork(genotype, num_classes=10, input_shape=(16, 16, 1), filters=12,
                              num_cells=3, auxiliary_weight=0.0)
    model.load_weights(DEMO_NETWORK / "evaluation.weights.h5")
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    train_images, _ = _digits("train", data_dir)
    images, labels = _digits("test", data_dir)
    representative = litert.representative_inputs(train_images, "images")
    paths = litert.export_litert(litert.classifier_signature(model),
                                 tmp_path_factory.mktemp("export") / "litert",
                                 ["float32", "int8"], representative)
    return {"model": model, "images": images, "labels": labels, "paths": paths,
            "keras": model.predict(images, batch_size=128, verbose=0)}


def _top1(logits):
    return np.argmax(logits, axis=-1)


def test_the_demo_network_is_accurate_so_agreement_means_something(demo):
    assert len(demo["labels"]) == 297
    assert np.mean(_top1(demo["keras"]) == demo["labels"]) > 0.95


def test_float32_matches_keras(demo):
    outputs = litert.LiteRTModel(demo["paths"]["float32"])(images=demo["images"])
    np.testing.assert_allclose(outputs["logits"], demo["keras"], atol=FLOAT_TOLERANCE, rtol=0)
    np.testing.assert_allclose(outputs["probabilities"],
                               tf.nn.softmax(demo["keras"]).numpy(), atol=FLOAT_TOLERANCE)


def test_int8_agrees_on_99_percent_and_loses_at_most_a_point(demo):
    logits = litert.LiteRTModel(demo["paths"]["int8"])(images=demo["images"])["logits"]
    assert np.mean(_top1(logits) == _top1(demo["keras"])) >= 0.99
    keras_accuracy = np.mean(_top1(demo["keras"]) == demo["labels"])
    assert np.mean(_top1(logits) == demo["labels"]) >= keras_accuracy - 0.01


def test_int8_is_integer_inside_and_smaller(demo):
    interpreter = litert.interpreter_class()(model_path=str(demo["paths"]["int8"]))
    operations = interpreter._get_ops_details()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}

    def on_float(op):
        return any(tensors[i]["dtype"] == np.float32 for i in op["inputs"] if i >= 0)

    computing = [op for op in operations if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")]
    for kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "MEAN"):
        ops = [op for op in computing if op["op_name"] == kind]
        assert ops and not [op for op in ops if on_float(op)], kind
    # The converter leaves a few sums with a stride-2 average pool in float (6 of 251 here).
    assert sum(map(on_float, computing)) <= 0.05 * len(computing)
    assert demo["paths"]["int8"].stat().st_size < demo["paths"]["float32"].stat().st_size / 1.5


def test_the_details_file_describes_each_file(demo):
    directory = demo["paths"]["float32"].parent
    details = json.loads((directory / litert.DETAILS_FILE).read_text())
    assert sorted(p.name for p in directory.iterdir()) == [
        "litert.json", "model_float32.tflite", "model_int8.tflite"]
    assert details["representative_samples"] == litert.REPRESENTATIVE_SAMPLES
    for quantization, path in demo["paths"].items():
        entry = details["files"][quantization]
        assert entry["file"] == path.name and entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["inputs"]["images"]["shape"] == [-1, 16, 16, 1]
        assert entry["outputs"]["logits"]["shape"] == [-1, 10]
        assert entry["inputs"]["images"]["dtype"] == "float32"
    with pytest.raises(FileExistsError, match="exists already"):
        litert.write_files({"float32": b""}, directory)


def test_any_batch_size_runs(demo):
    runner = litert.LiteRTModel(demo["paths"]["int8"], num_threads=2)
    for count in (1, 5, 2):
        assert runner(images=demo["images"][:count])["logits"].shape == (count, 10)


def test_bad_arguments_are_named_before_converting(demo, tmp_path):
    signature = litert.classifier_signature(demo["model"])
    with pytest.raises(ValueError, match="representative inputs for int8"):
        litert.convert(signature, "int8")
    with pytest.raises(ValueError, match="float32, dynamic_range, int8"):
        litert.export_litert(signature, tmp_path / "x", quantizations=["float16"])
    assert not (tmp_path / "x").exists()


class _Erfinv(keras.layers.Layer):
    def call(self, x):
        return tf.math.erfinv(x)


def test_an_operation_litert_cannot_run_is_named_with_its_layer(tmp_path):
    inputs = keras.Input((4, 4, 1))
    features = keras.layers.Flatten()(_Erfinv(name="unusual")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(features), name="odd")
    with pytest.raises(ValueError, match=r"'odd'.*Erfinv \(in [^)]*unusual[^)]*\)") as error:
        litert.export_litert(litert.classifier_signature(model), tmp_path / "litert",
                             quantizations=["float32"])
    assert "saved_model" in str(error.value)
    assert list(tmp_path.iterdir()) == []  # nothing written


def _float32_outputs(signature, inputs):
    expected = {k: v.numpy() for k, v in signature.serve(**inputs).items()}
    return expected, litert.LiteRTModel(litert.convert(signature))(**inputs)


def test_a_network_derived_from_a_search_model_converts_three_ways():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(32, 3, padding="same")(inputs)
    # 32 → 32 channels: kernels large enough for the converter to quantize (> 1,024 weights).
    x = EGSChoice([keras.layers.Conv2D(32, k, padding="same", name=f"conv{k}")
                   for k in (1, 3)], name="kernel")(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    derived = SearchModel(inputs, outputs).derive()
    images = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype(np.float32)
    signature = litert.classifier_signature(derived)
    expected = signature.serve(images)["logits"].numpy()
    files = litert.convert_all(signature, representative=litert.representative_inputs(
        images, "images"))
    got = {q: litert.LiteRTModel(content)(images=images)["logits"]
           for q, content in files.items()}
    np.testing.assert_allclose(got["float32"], expected, atol=FLOAT_TOLERANCE, rtol=0)
    for quantization in ("dynamic_range", "int8"):  # int8 weights: close, not equal
        error = np.abs(got[quantization] - expected).max()
        assert 0 < error < 0.05 * np.abs(expected).max(), quantization
    assert len(files["dynamic_range"]) < len(files["float32"])


def test_a_segmentation_network_converts_at_a_fixed_size():
    model = SegmentationNetwork(search_space.published_genotype("darts_v2"), num_classes=4,
                                filters=4, num_cells=3, output_stride=8, aspp_filters=8,
                                decoder_filters=8, low_level_filters=4)
    images = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype(np.float32)
    expected, got = _float32_outputs(litert.segmenter_signature(model, 16), {"images": images})
    assert got["logits"].shape == (2, 16, 16, 4)
    np.testing.assert_allclose(got["logits"], expected["logits"], atol=FLOAT_TOLERANCE, rtol=0)
    with pytest.raises(ValueError, match="multiple of the network's output stride 8"):
        litert.segmenter_signature(model, 20)


def test_a_recurrent_language_model_converts_unrolled():
    from configs import rnn_demo
    from egs_keras.runs import language

    config = rnn_demo.get_config()
    config.train.units = 8
    model = language.build_language_model(config, search_space.published_genotype(
        "darts_rnn_v2"), vocab_size=20)
    rng = np.random.default_rng(2)
    inputs = {"token_ids": rng.integers(0, 20, size=(2, 5)).astype(np.int32),
              "state": rng.normal(size=(2, sum(model.state_sizes))).astype(np.float32)}
    expected, got = _float32_outputs(litert.language_model_signature(model, 5), inputs)
    for name in ("logits", "state", "next_token_probabilities"):
        np.testing.assert_allclose(got[name], expected[name], atol=FLOAT_TOLERANCE, rtol=0)
    assert model.rnn.unroll is False  # the signature unrolls only while it traces
