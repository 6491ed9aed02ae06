import io
import os
import shutil
import subprocess

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.data import image_datasets
from egs_keras.export import export_classifier
from egs_keras.export import warmup
from egs_keras.export.saved_model import decode_image_bytes
from egs_keras.models import EvaluationNetwork

SHAPE = (8, 8, 1)
TOLERANCE = 1e-5  # SavedModel vs in-memory Keras model, absolute, on logits
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = EvaluationNetwork(search_space.published_genotype("darts_v2"), num_classes=10,
                              input_shape=SHAPE, filters=4, num_cells=3, auxiliary_weight=0.0)
    base = tmp_path_factory.mktemp("export")
    path = export_classifier(model, base, "egs_digits",
                             extra_files={"genotype.json": "{}"})
    return model, path, tf.saved_model.load(str(path))


def _images(count=4, seed=0):
    return tf.random.stateless_normal([count, *SHAPE], seed=[seed, 1])


def test_layout_is_versioned_atomic_and_carries_the_assets(exported, tmp_path):
    model, path, _ = exported
    assert path.name == "1" and (path / "saved_model.pb").exists()
    assert (path / "assets.extra" / "genotype.json").exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]
    second = export_classifier(model, path.parent, "egs_digits", warmup=False)
    assert second.name == "2"
    with pytest.raises(FileExistsError, match="version 2"):
        export_classifier(model, path.parent, "egs_digits", version=2)
    shutil.rmtree(second)


def test_a_process_without_egs_keras_reproduces_the_keras_outputs(exported, fresh_process):
    model, path, _ = exported
    images = _images().numpy()
    served = fresh_process(path, "serving_default", {"images": images})
    np.testing.assert_allclose(served["logits"], model(images, training=False), atol=TOLERANCE,
                               rtol=0)


def test_signatures_have_stable_names(exported, show_signatures):
    _, path, _ = exported
    text = show_signatures(path)
    for name in ["signature_def['serving_default']", "signature_def['serving_bytes']",
                 "inputs['images']", "inputs['image_bytes']", "outputs['logits']",
                 "outputs['probabilities']", "outputs['classes']", "outputs['top_k_classes']",
                 "outputs['top_k_probabilities']"]:
        assert name in text


def test_outputs_are_consistent(exported):
    _, _, served = exported
    out = served.signatures["serving_default"](images=_images(5))
    probabilities = out["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out["classes"], probabilities.argmax(axis=1))
    np.testing.assert_array_equal(out["top_k_classes"][:, 0], out["classes"])
    assert out["top_k_probabilities"].shape == (5, 5)


@pytest.mark.parametrize("images, message", [
    (np.zeros([2, 9, 8, 1], np.float32), r"shape \[N, 8, 8, 1\].*got shape"),
    (np.zeros([2, 8, 8, 3], np.float32), r"shape \[N, 8, 8, 1\].*got shape"),
    (np.zeros([0, 8, 8, 1], np.float32), "empty batch"),
    (np.full([2, 8, 8, 1], np.nan, np.float32), "NaN or Inf"),
])
def test_bad_images_are_rejected_with_what_was_wrong(exported, images, message):
    _, _, served = exported
    signature = served.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signature(images=tf.constant(images))


def test_wrong_dtype_is_rejected(exported):
    _, _, served = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor"):
        served.signatures["serving_default"](images=tf.zeros([2, *SHAPE], tf.int32))


def _png(image):
    return tf.io.encode_png(tf.constant(image, tf.uint8)).numpy()


def test_bytes_signature_preprocesses_exactly_as_evaluation(exported):
    model, _, served = exported
    spec = image_datasets.get_dataset("egs_digits")
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(3, 8, 8, 1), dtype=np.uint8)
    out = served.signatures["serving_bytes"](image_bytes=tf.constant([_png(r) for r in raw]))
    expected = model(tf.stack([image_datasets.preprocess_for_evaluation(r, spec, 8)
                               for r in raw]), training=False)
    np.testing.assert_allclose(out["logits"], expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("payload, message", [
    ([b"not an image"], "Unknown image file format"),
    ([None], "Unknown image file format|corrupt|truncated|Invalid PNG"),
    ([], "empty batch"),
])
def test_bad_bytes_are_rejected(exported, payload, message):
    _, _, served = exported
    if payload == [None]:  # a truncated PNG
        payload = [_png(np.zeros(SHAPE, np.uint8))[:30]]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served.signatures["serving_bytes"](image_bytes=tf.constant(payload, tf.string))


def test_every_warmup_record_replays(exported):
    _, path, served = exported
    logs = warmup.read_warmup_requests(path / "assets.extra" / "tf_serving_warmup_requests")
    signatures = sorted(log.predict_log.request.model_spec.signature_name for log in logs)
    assert signatures == ["serving_bytes", "serving_default"]
    for log in logs:
        out = warmup.replay(served, log)
        assert out["probabilities"].shape == (1, 10)


def test_tensorflow_model_server_when_installed(exported, tmp_path):
    binary = shutil.which("tensorflow_model_server")
    if binary is None:
        pytest.skip("tensorflow_model_server is not on the PATH (not installable on this "
                    "machine); the clients are tested against the stand-in instead")
    _, path, _ = exported
    import socket
    import time

    from egs_keras.export import RestClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, f"--rest_api_port={port}", "--port=0",
                               "--model_name=egs", f"--model_base_path={path.parent}"])
    try:
        client = RestClient(f"http://127.0.0.1:{port}", "egs")
        for _ in range(120):
            try:
                out = client.predict(_images(2).numpy())
                break
            except Exception:
                time.sleep(0.5)
        assert out["probabilities"].shape == (2, 10)
    finally:
        server.terminate()


def _encoded(image, image_format):
    """`image` (uint8 [H, W] gray, [H, W, 3] RGB or [H, W, 4] RGBA) encoded by Pillow."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, format=image_format)
    return buffer.getvalue()


_ROWS, _COLUMNS = np.mgrid[0:8, 0:8]
_GRAY = (_ROWS * 24 + _COLUMNS * 7).astype(np.uint8)  # smooth, so that JPEG keeps it close
_RGB = np.stack([_ROWS * 30, _COLUMNS * 30, 200 - _ROWS * 10], -1).astype(np.uint8)


@pytest.mark.parametrize("image_format", ["PNG", "BMP", "GIF", "JPEG"])
@pytest.mark.parametrize("layout", ["gray", "rgb", "rgba"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_listed_format_decodes_for_1_and_3_channel_models(image_format, layout, channels):
    if image_format == "JPEG" and layout == "rgba":
        pytest.skip("JPEG has no alpha channel")
    source = {"gray": _GRAY, "rgb": _RGB,
              "rgba": np.concatenate([_RGB, np.full((8, 8, 1), 7, np.uint8)], axis=-1)}[layout]
    if image_format == "GIF" and layout != "gray":
        source = source[..., :3] // 64 * 64  # few colours: a GIF palette keeps them exactly
    image = decode_image_bytes(_encoded(source, image_format), channels).numpy()
    assert image.shape == (8, 8, channels) and image.dtype == np.uint8
    rgb = np.repeat(source[..., None], 3, -1) if source.ndim == 2 else source[..., :3]
    expected = rgb if channels == 3 else (
        source[..., None] if source.ndim == 2
        else tf.image.rgb_to_grayscale(tf.constant(rgb)).numpy())
    if image_format == "JPEG":  # lossy: close, not equal
        assert np.abs(image.astype(int) - expected.astype(int)).mean() < 12
    else:
        np.testing.assert_array_equal(image, expected)


def test_a_gray_model_serves_gif_and_bmp_bytes(exported):
    model, _, served = exported
    spec = image_datasets.get_dataset("egs_digits")
    payload = [_encoded(_GRAY, "GIF"), _encoded(_GRAY, "BMP")]
    out = served.signatures["serving_bytes"](image_bytes=tf.constant(payload))
    expected = model(tf.stack([image_datasets.preprocess_for_evaluation(_GRAY[..., None], spec,
                                                                        8)] * 2),
                     training=False)
    np.testing.assert_allclose(out["logits"], expected, atol=TOLERANCE, rtol=0)


def test_finite_inputs_that_overflow_the_network_are_an_error_not_nan(exported):
    _, _, served = exported
    huge = tf.fill([2, *SHAPE], np.finfo(np.float32).max)
    with pytest.raises(tf.errors.InvalidArgumentError, match="outputs hold NaN or Inf although"):
        served.signatures["serving_default"](images=huge)
