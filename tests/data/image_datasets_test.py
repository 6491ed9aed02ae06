import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from egs_keras.data import image_datasets

DIGITS = image_datasets.get_dataset("egs_digits")


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_bundled_digits_are_prepared_offline_with_their_splits(digits_dir):
    train = image_datasets.load_examples("egs_digits", "train", digits_dir)
    test = image_datasets.load_examples("egs_digits", "test", digits_dir)
    assert image_datasets.num_examples(train) == 1500
    assert image_datasets.num_examples(test) == 297
    images, labels = next(iter(train.batch(1500)))
    assert images.shape == (1500, 8, 8, 1) and images.dtype == tf.uint8
    assert sorted(np.unique(labels)) == list(range(10))
    half = image_datasets.load_examples("egs_digits", "train[:50%]", digits_dir)
    assert image_datasets.num_examples(half) == 750


def _stream(examples, initial_epoch, epochs=3, seed=5):
    batches, steps = image_datasets.training_batches(
        examples, DIGITS, image_size=16, batch_size=100, seed=seed, epochs=epochs,
        initial_epoch=initial_epoch)
    return [(x.numpy(), y.numpy()) for x, y in batches], steps


def test_training_batches_are_a_function_of_the_seed_and_resume_exactly(digits_dir):
    examples = image_datasets.load_examples("egs_digits", "train[:50%]", digits_dir)
    full, steps = _stream(examples, 0)
    assert steps == 7 and len(full) == 3 * 7
    assert full[0][0].shape == (100, 16, 16, 1) and full[0][0].dtype == np.float32
    again, _ = _stream(examples, 0)
    for (x1, y1), (x2, y2) in zip(full, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    resumed, _ = _stream(examples, 1)  # a run restarted after its first epoch
    for (x1, y1), (x2, y2) in zip(full[steps:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(full[0][1], full[steps][1])  # each epoch reshuffles
    other, _ = _stream(examples, 0, seed=6)
    assert not np.array_equal(full[0][1], other[0][1])


def test_each_epoch_visits_every_example_once_even_with_a_global_seed(digits_dir):
    """Epochs are stateless permutations; a global TF seed (even 0, which TF's seed helper
    mishandles for tensor op seeds) does not disturb them."""
    tf.random.set_seed(0)
    examples = image_datasets.load_examples("egs_digits", "train[:50%]", digits_dir)
    labels = np.array([int(y) for _, y in examples])
    batches, steps = image_datasets.training_batches(examples, DIGITS, 8, batch_size=75,
                                                     seed=2, epochs=2)
    epochs = np.array([y.numpy() for _, y in batches]).reshape(2, -1)
    assert steps == 10
    for epoch in epochs:  # 750 examples in 10 batches of 75: a permutation of the labels
        np.testing.assert_array_equal(np.bincount(epoch, minlength=10),
                                      np.bincount(labels, minlength=10))
    assert not np.array_equal(epochs[0], epochs[1])


def test_evaluation_batches_keep_order_and_normalise(digits_dir):
    test = image_datasets.load_examples("egs_digits", "test", digits_dir)
    batches = list(image_datasets.evaluation_batches(test, DIGITS, 16, batch_size=100))
    assert [len(y) for _, y in batches] == [100, 100, 97]
    labels = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(labels, [y for _, y in test.as_numpy_iterator()])
    images = np.concatenate([x for x, _ in batches])
    assert abs(images.mean()) < 0.3 and 0.7 < images.std() < 1.3  # standardised


def test_cifar10_pipeline_through_tfds_mock_data():
    spec = image_datasets.get_dataset("cifar10")
    with tfds.testing.mock_data(num_examples=40):
        train = image_datasets.load_examples("cifar10", "train[:50%]")
        batches, steps = image_datasets.training_batches(train, spec, 32, batch_size=8, seed=0,
                                                         epochs=1)
        x, y = next(iter(batches))
        assert x.shape == (8, 32, 32, 3) and y.shape == (8,)
        # cutout 16 zeroes (in normalised space) a square of up to 256 pixels per image
        zero = (x.numpy() == 0).all(axis=-1).reshape(8, -1).sum(axis=1)
        assert np.all(zero <= 256) and np.any(zero >= 64)
        searched, _ = image_datasets.training_batches(train, spec, 32, batch_size=8, seed=0,
                                                      epochs=1, cutout=False)
        x_search, _ = next(iter(searched))  # the same crops and flips, without cutout
        kept = (x.numpy() != 0).all(axis=-1)
        np.testing.assert_array_equal(x_search.numpy()[kept], x.numpy()[kept])
        assert not (x_search.numpy() == 0).all(axis=-1).any()
        test = image_datasets.load_examples("cifar10", "test")
        x, _ = next(iter(image_datasets.evaluation_batches(test, spec, 32, 8)))
        assert x.shape == (8, 32, 32, 3)


def test_imagenet_pipeline_through_tfds_mock_data():
    """Random-resized crops and flips in training, 256 → 224 centre crops in evaluation, at a
    small size here; images of any size come in."""
    spec = image_datasets.get_dataset("imagenet2012")
    with tfds.testing.mock_data(num_examples=6):
        train = image_datasets.load_examples("imagenet2012", "train")
        batches, _ = image_datasets.training_batches(train, spec, 48, batch_size=3, seed=0,
                                                     epochs=1)
        x, y = next(iter(batches))
        assert x.shape == (3, 48, 48, 3) and y.shape == (3,)
        assert np.isfinite(x.numpy()).all()
        valid = image_datasets.load_examples("imagenet2012", "validation")
        x, _ = next(iter(image_datasets.evaluation_batches(valid, spec, 48, 3)))
        assert x.shape == (3, 48, 48, 3)


def test_errors_name_the_problem(digits_dir, tmp_path):
    with pytest.raises(ValueError, match="dataset.*cifar10"):
        image_datasets.get_dataset("cifar100")
    examples = image_datasets.load_examples("egs_digits", "test", digits_dir)
    with pytest.raises(ValueError, match="batch_size=500 for a split of 297"):
        image_datasets.training_batches(examples, DIGITS, 16, 500, seed=0, epochs=1)
    with pytest.raises(ValueError, match="imagenet2012.*manual"):
        image_datasets.load_examples("imagenet2012", "validation", str(tmp_path))
