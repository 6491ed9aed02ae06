"""Image augmentation as stateless functions of a `[2]` integer seed.

Every random choice derives from the seed it is given, so a pipeline that seeds each example
from (run seed, epoch, example index) produces the same batches when a run resumes.

>>> image = tf.zeros([32, 32, 3])
>>> random_crop_with_padding(image, seed=[1, 2], padding=4).shape
TensorShape([32, 32, 3])
"""

import tensorflow as tf


def split_seed(seed, count):
    """`count` independent `[2]` seeds from one."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=count))


def random_crop_with_padding(image, seed, padding=4):
    """Zero-pads `padding` pixels on each side and crops back at a random offset (CIFAR)."""
    height, width = image.shape[0], image.shape[1]
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    return tf.image.stateless_random_crop(padded, [height, width, image.shape[-1]], seed)


def random_flip(image, seed):
    """Mirrors left-right with probability 1/2."""
    return tf.image.stateless_random_flip_left_right(image, seed)


def cutout(image, seed, size):
    """Zeroes a `size`×`size` square (clipped at the borders) centred on a uniformly random
    pixel (DeVries & Taylor 2017, as DARTS applies it after normalisation)."""
    if size <= 0:
        return image
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    center = tf.random.stateless_uniform([2], seed, minval=0, maxval=tf.int32.max, dtype=tf.int32)
    cy, cx = center[0] % height, center[1] % width
    rows = tf.range(height)[:, tf.newaxis]
    cols = tf.range(width)[tf.newaxis, :]
    half = size // 2
    inside = ((rows >= cy - half) & (rows < cy - half + size)
              & (cols >= cx - half) & (cols < cx - half + size))
    return image * tf.cast(~inside, image.dtype)[:, :, tf.newaxis]


def normalize(image, mean, std):
    """uint8 (or [0, 255] float) image → float32, per-channel standardised with `mean`, `std`
    given on the [0, 1] scale."""
    image = tf.cast(image, tf.float32) / 255.0
    return (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def random_resized_crop(image, seed, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Inception-style crop: a random box covering `scale` of the area with aspect `ratio`,
    resized to `size`×`size` (ImageNet training)."""
    box_begin, box_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=ratio, area_range=scale,
        max_attempts=10, use_image_if_no_bounding_boxes=True)
    crop = tf.slice(image, box_begin, box_size)
    return tf.image.resize(crop, [size, size], method="bilinear")


def resize_center_crop(image, size, crop_fraction=0.875):
    """Resizes the shorter side to `size / crop_fraction` and crops the centre `size`×`size`
    (ImageNet evaluation: 256 → 224)."""
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    scale = (size / crop_fraction) / tf.minimum(height, width)
    new_size = tf.cast(tf.round(tf.stack([height, width]) * scale), tf.int32)
    resized = tf.image.resize(image, new_size, method="bilinear")
    top = (new_size[0] - size) // 2
    left = (new_size[1] - size) // 2
    return tf.slice(resized, [top, left, 0], [size, size, -1])
