"""Probe 32.2: decompression bombs sent to `serving_bytes` are refused from their headers,
before any decoding (a 48 KB PNG of 20000 × 20000 pixels made the server allocate 2 GB)."""

import io
import struct
import zlib

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.export import export_classifier
from egs_keras.export import image_headers
from egs_keras.models import EvaluationNetwork

SHAPE = (8, 8, 1)


def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(side=20000):
    """A real, valid one-bit gray PNG of side × side black pixels (about 48 KB for 20000)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    rows = [compressor.compress(row * 500) for _ in range(side // 500)]
    data = b"".join(rows) + compressor.compress(row * (side % 500)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))


def _encoded(image_format, shape=(5, 7, 3)):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, format=image_format)
    return buffer.getvalue()


def declaring(image_format, width, height):
    """A real small image whose header is rewritten to declare width × height (what a bomb's
    header declares; its pixel data is never reached)."""
    data = bytearray(_encoded(image_format))
    if image_format == "PNG":
        data[16:24] = struct.pack(">II", width, height)
    elif image_format == "BMP":
        data[18:26] = struct.pack("<ii", width, -height)  # a top-down BMP: negative height
    elif image_format == "JPEG":
        start = data.index(b"\xff\xc0")
        data[start + 5:start + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif(frames, width, height):
    """A GIF of `frames` frames of width × height each (one-byte LZW sub-blocks)."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = (b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02"
             + b"\x02\x44\x01" + b"\x00")
    return header + frame * frames + b"\x3b"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    model = EvaluationNetwork(search_space.published_genotype("darts_v2"), num_classes=10,
                              input_shape=SHAPE, filters=4, num_cells=1, auxiliary_weight=0.0)
    path = export_classifier(model, tmp_path_factory.mktemp("export"), "egs_digits",
                             warmup=False)
    return tf.saved_model.load(str(path)).signatures["serving_bytes"]


@pytest.mark.parametrize("image_format, frames, shape", [
    ("PNG", 1, (37, 53, 3)), ("PNG", 1, (37, 53)), ("JPEG", 1, (37, 53, 3)),
    ("BMP", 1, (37, 53, 3)), ("GIF", 1, (37, 53)), ("GIF", 3, (37, 53))])
def test_declared_pixels_are_what_the_decoder_allocates(image_format, frames, shape):
    rng = np.random.default_rng(1)
    images = [PIL.Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
              for _ in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format=image_format, save_all=frames > 1, append_images=images[1:])
    decoded = tf.io.decode_image(buffer.getvalue(), expand_animations=True)
    expected = frames * 37 * 53
    assert np.prod(decoded.shape[:-1]) == expected
    assert int(image_headers.declared_pixels(buffer.getvalue())) == expected


def test_unknown_bytes_declare_nothing_and_are_left_to_the_decoder():
    assert int(image_headers.declared_pixels(b"not an image")) == 0
    assert image_headers.default_limits(8, 8) == (4096 * 4096, 8 * 4096 * 4096)
    assert image_headers.default_limits(1024, 1024) == (64 * 1024 * 1024, 8 * 64 * 1024 * 1024)
    with pytest.raises(ValueError, match="max_image_pixels"):
        image_headers.default_limits(8, 8, max_image_pixels=0)


def test_a_real_png_bomb_is_refused_before_decoding(served):
    bomb = png_bomb()
    assert len(bomb) < 60_000
    with pytest.raises(tf.errors.InvalidArgumentError, match="declares more pixels"):
        served(image_bytes=tf.constant([bomb]))


@pytest.mark.parametrize("payload", [
    declaring("PNG", 12000, 12000), declaring("JPEG", 65000, 65000),
    declaring("BMP", 30000, 30000), gif(1, 60000, 60000),
    gif(40, 1000, 1000),  # every frame is small; together 40 megapixels
], ids=["png-rgb", "jpeg", "bmp", "gif", "gif-frames"])
def test_bombs_of_every_format_are_refused(served, payload):
    with pytest.raises(tf.errors.InvalidArgumentError, match="declares more pixels"):
        served(image_bytes=tf.constant([payload]))


def test_a_batch_of_large_images_is_refused_by_its_total(served):
    big = declaring("PNG", 4000, 4000)  # 16 megapixels: under the per-image limit
    with pytest.raises(tf.errors.InvalidArgumentError, match="together"):
        served(image_bytes=tf.constant([big] * 9))


def test_a_gif_too_fragmented_to_walk_is_refused(served):
    fragmented = (b"GIF89a" + struct.pack("<HHBBB", 2, 2, 0, 0, 0) + b"\x2c"
                  + struct.pack("<HHHHB", 0, 0, 2, 2, 0) + b"\x02" + b"\x01\x00" * 60_000
                  + b"\x00\x3b")
    with pytest.raises(tf.errors.InvalidArgumentError, match="declares more pixels"):
        served(image_bytes=tf.constant([fragmented]))


def test_ordinary_images_still_serve(served):
    outputs = served(image_bytes=tf.constant([_encoded("PNG", (8, 8)), _encoded("GIF", (8, 8)),
                                              _encoded("JPEG", (8, 8, 3))]))
    assert outputs["classes"].shape == (3,)


@pytest.mark.parametrize("payload, shape", [
    (tf.constant(b"abc"), r"got shape\] \[\]"), (tf.constant([[b"abc"]]), r"\[1 1\]")])
def test_a_scalar_or_a_matrix_of_bytes_is_named_as_such(served, payload, shape):
    """Probe 32.13: these gave "slice index 0 of dimension 0 out of bounds"."""
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"string \[N\].*{shape}"):
        served(image_bytes=payload)
