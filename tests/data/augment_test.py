import numpy as np
import pytest
import tensorflow as tf

from egs_keras.data import augment


def test_crop_with_padding_shifts_the_image_by_at_most_the_padding():
    image = tf.reshape(tf.range(1, 8 * 8 + 1, dtype=tf.float32), [8, 8, 1])
    offsets = set()
    for i in range(40):
        crop = augment.random_crop_with_padding(image, [3, i], padding=2).numpy()[..., 0]
        rows, cols = np.nonzero(crop)
        first = crop[rows[0], cols[0]]  # the top-left surviving pixel tells the shift
        dy, dx = rows[0] - (first - 1) // 8, cols[0] - (first - 1) % 8
        assert abs(dy) <= 2 and abs(dx) <= 2
        offsets.add((dy, dx))
    assert len(offsets) > 5


def test_cutout_zeroes_a_clipped_square():
    image = tf.ones([10, 10, 3])
    areas = set()
    for i in range(50):
        out = augment.cutout(image, [1, i], size=4).numpy()
        zero = out[..., 0] == 0
        assert np.array_equal(zero, (out == 0).all(axis=-1))  # all channels together
        rows, cols = np.nonzero(zero)
        assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 4
        areas.add(int(zero.sum()))
    assert 16 in areas and min(areas) < 16  # whole squares inside, clipped ones at borders


def test_same_seed_same_result_other_seed_other_result():
    image = tf.random.stateless_uniform([16, 16, 3], seed=[0, 0])
    a = augment.random_flip(augment.random_crop_with_padding(image, [5, 6]), [5, 7])
    b = augment.random_flip(augment.random_crop_with_padding(image, [5, 6]), [5, 7])
    np.testing.assert_array_equal(a, b)
    others = [augment.random_crop_with_padding(image, [5, s]) for s in range(8)]
    assert any(not np.array_equal(a, o) for o in others)


def test_normalize_and_imagenet_crops():
    image = tf.fill([30, 40, 3], tf.constant(255, tf.uint8))
    np.testing.assert_allclose(augment.normalize(image, (0.5,) * 3, (0.25,) * 3), 2.0)
    assert augment.random_resized_crop(tf.cast(image, tf.float32), [1, 2], 24).shape == (24, 24,
                                                                                         3)
    assert augment.resize_center_crop(tf.cast(image, tf.float32), 24).shape == (24, 24, 3)


@pytest.mark.parametrize("size", [0, -1])
def test_cutout_of_size_zero_is_identity(size):
    image = tf.ones([4, 4, 1])
    np.testing.assert_array_equal(augment.cutout(image, [0, 0], size), image)
