import os

import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.data import segmentation_datasets
from egs_keras.export import GrpcClient
from egs_keras.export import RestClient
from egs_keras.export import segmentation
from egs_keras.export import warmup
from egs_keras.models.segmentation_network import SegmentationNetwork

TOLERANCE = 1e-5
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
SPEC = segmentation_datasets.get_dataset("egs_shapes")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = SegmentationNetwork(search_space.published_genotype("darts_v2"), num_classes=4,
                                filters=4, num_cells=3, output_stride=8, aspp_filters=8,
                                decoder_filters=8, low_level_filters=4)
    path = segmentation.export_segmenter(model, tmp_path_factory.mktemp("export"),
                                         "egs_shapes", extra_files={"genotype.json": "{}"})
    return model, path, tf.saved_model.load(str(path))


def _images(shape=(2, 16, 24, 3), seed=0):
    return tf.random.stateless_normal(shape, seed=[seed, 1])


def test_a_fresh_process_serves_maps_of_the_input_size(exported, fresh_process):
    model, path, _ = exported
    images = _images().numpy()
    served = fresh_process(path, "serving_default", {"images": images})
    assert served["class_map"].shape == (2, 16, 24)
    np.testing.assert_allclose(served["logits"], model(images, training=False), atol=TOLERANCE,
                               rtol=0)


def test_outputs_are_consistent_and_named(exported, show_signatures):
    _, path, served = exported
    out = served.signatures["serving_default"](images=_images((1, 32, 8, 3)))
    assert out["probabilities"].shape == (1, 32, 8, 4)
    np.testing.assert_allclose(tf.reduce_sum(out["probabilities"], -1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out["class_map"], tf.argmax(out["logits"], -1))
    text = show_signatures(path)
    for name in ["signature_def['serving_default']", "signature_def['serving_bytes']",
                 "inputs['images']", "inputs['image_bytes']", "outputs['class_map']",
                 "outputs['probabilities']", "outputs['logits']"]:
        assert name in text
    names = (path / "assets.extra" / "class_names.txt").read_text().split()
    assert names == list(SPEC.class_names)
    assert (path / "assets.extra" / "genotype.json").exists()


def _png(image):
    return tf.io.encode_png(tf.constant(image, tf.uint8)).numpy()


def test_bytes_of_any_size_are_padded_then_cropped_back(exported):
    model, _, served = exported
    image = np.random.default_rng(0).integers(0, 255, (20, 28, 3), dtype=np.uint8)
    out = served.signatures["serving_bytes"](image_bytes=tf.constant([_png(image)] * 2))
    assert out["class_map"].shape == (2, 20, 28)
    normalised = segmentation_datasets.preprocess_for_evaluation(image, SPEC)
    padded = tf.pad(normalised, [[0, 4], [0, 4], [0, 0]])[tf.newaxis]
    expected = model(padded, training=False)[:, :20, :28]
    np.testing.assert_allclose(out["logits"][:1], expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("images, message", [
    (np.zeros([1, 12, 16, 3], np.float32), "multiples of the output stride 8"),
    (np.zeros([1, 16, 16, 1], np.float32), r"\[N, H, W, 3\]"),
    (np.zeros([0, 16, 16, 3], np.float32), "N >= 1"),
    (np.full([1, 16, 16, 3], np.nan, np.float32), "NaN or Inf"),
    (np.zeros([16, 16, 3], np.float32), "got shape"),
])
def test_bad_images_are_rejected_with_what_was_wrong(exported, images, message):
    _, _, served = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served.signatures["serving_default"](images=tf.constant(images))


@pytest.mark.parametrize("payload, message", [
    ([], "empty batch"),
    ([_png(np.zeros([8, 8, 3])), _png(np.zeros([8, 16, 3]))], "of one size in a batch"),
    ([b"not an image"], "image"),
])
def test_bad_bytes_are_rejected(exported, payload, message):
    _, _, served = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served.signatures["serving_bytes"](image_bytes=tf.constant(payload, tf.string))


def test_every_warmup_record_replays(exported):
    _, path, served = exported
    logs = warmup.read_warmup_requests(path / "assets.extra" / "tf_serving_warmup_requests")
    outputs = [warmup.replay(served, log) for log in logs]
    assert [o["class_map"].shape for o in outputs] == [(1, 32, 32), (1, 32, 32)]


def test_a_model_for_other_classes_is_refused(exported, tmp_path):
    model, _, _ = exported
    with pytest.raises(ValueError, match="4 classes for 'voc2012', which has 21"):
        segmentation.export_segmenter(model, tmp_path, "voc2012")


def test_the_clients_fetch_class_maps(exported, standin_server):
    model, path, _ = exported
    standin = standin_server(path, "segmenter")
    images = _images((1, 16, 16, 3)).numpy()
    rest = RestClient(standin.rest_url, "segmenter").predict(images)
    assert rest["class_map"].shape == (1, 16, 16)
    np.testing.assert_allclose(rest["logits"], model(images, training=False), atol=TOLERANCE)
    image = np.zeros([12, 20, 3], np.uint8)
    client = GrpcClient(standin.grpc_target, "segmenter")
    try:
        assert client.predict_bytes([_png(image)])["class_map"].shape == (1, 12, 20)
    finally:
        client.close()
