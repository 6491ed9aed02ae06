"""How many pixels an encoded image declares, read in the graph from its header before any
decoding, so that a served model refuses decompression bombs (a 48 KB PNG of 20000 × 20000
pixels would make the decoder allocate gigabytes) at the cost of reading a few bytes.

* JPEG: `tf.image.extract_jpeg_shape` (the frame header).
* PNG: the IHDR chunk's width and height (the first chunk, bytes 16-23).
* BMP: the info header's width and |height| (bytes 18-25).
* GIF: the sum of every frame's width × height, from the image descriptors found by walking
  the file's blocks (the decoder reads every frame's raster, even when only the first is
  returned: a GIF's frames, not its screen, are what it allocates).

Anything else declares 0 pixels here and is left to the decoder, which refuses it.

>>> pixels = declared_pixels(tf.constant(png_bytes))          # doctest: +SKIP
"""

import tensorflow as tf

from egs_keras import _validation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PADDING = b"\x00" * 32  # header reads past a truncated file see zeros, not an error


def _byte_values(encoded):
    """The bytes of a scalar string as int64 (followed by zero padding)."""
    padded = tf.strings.join([encoded, _PADDING])
    return tf.cast(tf.io.decode_raw(padded, tf.uint8), tf.int64)


def _little_endian(byte, start, length):
    """The unsigned integer of `length` bytes from `start`; `byte(i)` reads byte i."""
    return tf.add_n([byte(start + i) * (256 ** i) for i in range(length)])


def _big_endian(byte, start, length):
    return tf.add_n([byte(start + i) * (256 ** (length - 1 - i)) for i in range(length)])


_SIDE_CAP = 2**30   # sides are capped before multiplying, so that no product overflows int64
_PIXEL_CAP = 2**40  # and each image's count before a batch is summed


def _area(width, height):
    return tf.minimum(width, _SIDE_CAP) * tf.minimum(height, _SIDE_CAP)


def _png_pixels(values):
    return _area(_big_endian(values.__getitem__, 16, 4),
                 _big_endian(values.__getitem__, 20, 4))


def _bmp_pixels(values):
    width = _little_endian(values.__getitem__, 18, 4)
    height = _little_endian(values.__getitem__, 22, 4)
    height = tf.where(height >= 2**31, 2**32 - height, height)  # top-down BMPs: height < 0
    width = tf.where(width >= 2**31, 2**32 - width, width)
    return _area(width, height)


def _gif_pixels(values, max_steps):
    """Sum of the frames' width × height: walks the blocks after the header and colour
    table (an image descriptor 0x2C, its local colour table and LZW code size, then data
    sub-blocks; an extension 0x21 and its label, then sub-blocks; anything else ends). A walk
    longer than `max_steps` blocks declares an impossible size, so that it is refused."""
    size = tf.shape(values, out_type=tf.int64)[0] - len(_PADDING)

    def table(flags):  # a colour table of 2^(n+1) RGB entries if bit 7 is set
        return tf.where(flags >= 128, 3 * tf.bitwise.left_shift(
            tf.constant(2, tf.int64), flags % 8), 0)

    def at(position):
        return tf.gather(values, tf.clip_by_value(position, 0, size + len(_PADDING) - 1))

    def step(position, in_blocks, pixels, steps, done):
        def next_block():
            kind = at(position)
            is_image = tf.equal(kind, 0x2C)
            is_extension = tf.equal(kind, 0x21)
            frame = _little_endian(at, position + 5, 2) * _little_endian(at, position + 7, 2)
            image_end = position + 10 + table(at(position + 9)) + 1
            new_position = tf.where(is_image, image_end,
                                    tf.where(is_extension, position + 2, position))
            return (new_position, is_image | is_extension,
                    pixels + tf.where(is_image, frame, 0),
                    tf.logical_not(is_image | is_extension))

        def next_sub_block():
            length = at(position)
            return (position + length + 1, tf.not_equal(length, 0), pixels,
                    tf.constant(False))

        position, in_blocks, pixels, done = tf.cond(in_blocks, next_sub_block, next_block)
        done = done | (position >= size)
        return position, in_blocks, pixels, steps + 1, done

    start = 13 + table(values[10])
    _, _, pixels, steps, _ = tf.while_loop(
        lambda position, in_blocks, pixels, steps, done: tf.logical_not(done)
        & (steps < max_steps),
        step, (start, tf.constant(False), tf.constant(0, tf.int64), tf.constant(0, tf.int64),
               tf.constant(False)))
    return tf.where(steps >= max_steps, tf.constant(_PIXEL_CAP, tf.int64), pixels)


def declared_pixels(encoded, max_gif_blocks=50_000):
    """The number of pixels the decoder of scalar string `encoded` would allocate for (int64;
    0 for a format this module does not know). A GIF whose blocks take more than
    `max_gif_blocks` steps to walk declares 2**40 (refused by any sensible limit); every
    count is capped there, so that a batch's sum cannot overflow."""
    encoded = tf.convert_to_tensor(encoded, tf.string)
    values = _byte_values(encoded)
    head = tf.strings.substr(encoded, 0, 8)
    pixels = tf.case([
        (tf.io.is_jpeg(encoded), lambda: tf.reduce_prod(tf.cast(
            tf.image.extract_jpeg_shape(encoded)[:2], tf.int64))),
        (tf.equal(head, PNG_SIGNATURE), lambda: _png_pixels(values)),
        (tf.equal(tf.strings.substr(head, 0, 3), b"GIF"),
         lambda: _gif_pixels(values, max_gif_blocks)),
        (tf.equal(tf.strings.substr(head, 0, 2), b"BM"), lambda: _bmp_pixels(values)),
    ], default=lambda: tf.constant(0, tf.int64), exclusive=True)
    return tf.minimum(pixels, _PIXEL_CAP)


DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096  # a 16-megapixel photo: about 50 MB decoded as RGB
BATCH_IMAGES = 8  # the default batch limit: this many images at the per-image limit


def default_limits(height, width, max_image_pixels=None, max_batch_pixels=None):
    """(max_image_pixels, max_batch_pixels) for a model of `height` × `width` inputs: by
    default the larger of 4096² and 64 model inputs per image, and 8 such images per request.

    >>> default_limits(32, 32)
    (16777216, 134217728)
    """
    if max_image_pixels is None:
        max_image_pixels = max(DEFAULT_MAX_IMAGE_PIXELS, 64 * height * width)
    if max_batch_pixels is None:
        max_batch_pixels = BATCH_IMAGES * max_image_pixels
    for name, value in (("max_image_pixels", max_image_pixels),
                        ("max_batch_pixels", max_batch_pixels)):
        _validation.check_positive_int(name, value)
    return int(max_image_pixels), int(max_batch_pixels)


def checked_sizes(image_bytes, max_image_pixels, max_batch_pixels):
    """`image_bytes` (a string `[N]`) after checking, from the headers only, that no image
    declares more than `max_image_pixels` pixels and the batch not more than
    `max_batch_pixels`: an `InvalidArgumentError` saying so before anything is decoded."""
    pixels = tf.map_fn(declared_pixels, image_bytes,
                       fn_output_signature=tf.TensorSpec([], tf.int64))
    checks = [
        tf.debugging.assert_less_equal(
            pixels, tf.constant(max_image_pixels, tf.int64),
            message=f"An image declares more pixels than this model decodes (at most "
            f"{max_image_pixels} per image, the export's max_image_pixels; a GIF counts every "
            "frame). Resize it before sending (the model sees far fewer pixels); the declared "
            "sizes were"),
        tf.debugging.assert_less_equal(
            tf.reduce_sum(pixels), tf.constant(max_batch_pixels, tf.int64),
            message=f"The batch's images declare more pixels together than this model decodes "
            f"in one request (at most {max_batch_pixels}, the export's max_batch_pixels). Send "
            "fewer or smaller images per request; the declared total was"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(image_bytes)
