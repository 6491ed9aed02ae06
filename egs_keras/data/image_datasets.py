"""Image classification data: TFDS sources and the training / evaluation tf.data pipelines.

One code path serves every data set: `load_examples` reads a TFDS split ("train[:50%]" works),
`training_batches` shuffles, augments and batches it epoch by epoch with seeds derived from
(seed, epoch, example index), so a resumed run sees exactly the batches it would have seen,
and `evaluation_batches` only normalises (and resizes).

>>> spec = DATASETS["egs_digits"]
>>> examples = load_examples("egs_digits", "train[:50%]", data_dir=tmp_dir)  # doctest: +SKIP
>>> batches, steps = training_batches(examples, spec, image_size=16, batch_size=32,
...                                   seed=0, epochs=10)  # doctest: +SKIP

Data sets: "cifar10" (DARTS: crop with 4-pixel padding, flip, and for evaluation networks
cutout 16), "imagenet2012"
(manual download into `<data_dir>/downloads/manual`; random resized crop and flip, 256 → 224
centre crop for evaluation), and "egs_digits" (bundled, no network; see `data.digits`).
"""

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

from egs_keras import _validation
from egs_keras.data import augment
from egs_keras.data import availability
from egs_keras.data import digits  # noqa: F401  (registers the "egs_digits" builder)


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    """What the pipelines need to know about a TFDS image data set.

    Args:
        tfds_name: the TFDS builder name.
        num_classes: number of labels.
        image_size: the side length the paper's models use.
        channels: image channels.
        mean, std: per-channel statistics on the [0, 1] scale, for normalisation.
        augmentation: "cifar" (pad-crop, flip, cutout), "imagenet" (random resized crop,
            flip) or "small" (pad-crop by image_size // 8, no flip: digits are not symmetric).
        train_split, test_split: TFDS split names.
    """

    tfds_name: str
    num_classes: int
    image_size: int
    channels: int
    mean: tuple
    std: tuple
    augmentation: str
    train_split: str = "train"
    test_split: str = "test"


DATASETS = {
    "cifar10": ImageDataset("cifar10", 10, 32, 3, (0.4914, 0.4822, 0.4465),
                            (0.2470, 0.2435, 0.2616), "cifar"),
    "imagenet2012": ImageDataset("imagenet2012", 1000, 224, 3, (0.485, 0.456, 0.406),
                                 (0.229, 0.224, 0.225), "imagenet", test_split="validation"),
    # Statistics of the bundled train split (levels × 16 / 255).
    "egs_digits": ImageDataset("egs_digits", 10, 16, 1, (0.3051,), (0.3750,), "small"),
}


def get_dataset(name):
    """The `ImageDataset` registered under `name`."""
    if name not in DATASETS:
        raise _validation.invalid("dataset", f"one of {sorted(DATASETS)}", name)
    return DATASETS[name]


def load_examples(name, split, data_dir=None):
    """(uint8 image, label) pairs of a TFDS split, prepared on first use.

    Raises a ValueError that says where to put the files when a manual download (ImageNet)
    is missing.
    """
    return load_supervised(get_dataset(name).tfds_name, split, data_dir)


def load_supervised(tfds_name, split, data_dir=None):
    """The (input, target) pairs of a split of TFDS builder `tfds_name`, prepared on first
    use, in stored order; a clear ValueError when a manual download is missing."""
    availability.check_available(tfds_name, data_dir)  # at once, not after retries
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    try:
        builder.download_and_prepare()
    except AssertionError as error:  # TFDS reports a missing manual download this way
        raise ValueError(
            f"Could not prepare the TFDS data set {tfds_name!r} in "
            f"{builder.data_dir!r}: {error} Download its files by hand into the manual "
            "directory named above, or choose another data set.") from None
    return builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)


def load_config_splits(data, *splits):
    """For a run config's `data` section: (the `ImageDataset`, the image size, the examples of
    each of `splits`)."""
    spec = get_dataset(data.name)
    examples = [load_examples(data.name, split, data.data_dir or None) for split in splits]
    return spec, data.image_size or spec.image_size, examples


def steps_per_epoch(examples, batch_size, field, split):
    """Whole batches of `batch_size` in `examples` (the split `split`); a ValueError naming
    the config `field` if there is not even one, before any expensive step."""
    count = num_examples(examples)
    if count < batch_size:
        raise ValueError(
            f"Received {field}={batch_size}, larger than the split {split!r} "
            f"({count} examples): an epoch would not have a single step. Expected at most "
            f"{count}; lower {field}, or use a larger split.")
    return count // batch_size


def num_examples(examples):
    """The number of examples in a finite dataset (counted if TFDS does not know it)."""
    count = int(examples.cardinality())
    if count < 0:
        count = int(examples.reduce(0, lambda n, _: n + 1))
    return count


def preprocess_for_evaluation(image, spec, image_size):
    """One uint8 `[H, W, C]` image → the float32 `[image_size, image_size, C]` input the
    network saw in evaluation (resize, or ImageNet's centre crop; normalisation). Exports use
    it so that serving decodes images exactly as evaluation did."""
    return _prepare(image, spec, image_size, False, None)


def _prepare(image, spec, image_size, training, seed, cutout=True):
    if spec.augmentation == "imagenet":
        image = tf.cast(image, tf.float32)
        if training:
            crop_seed, flip_seed = augment.split_seed(seed, 2)
            image = augment.random_flip(
                augment.random_resized_crop(image, crop_seed, image_size), flip_seed)
        else:
            image = augment.resize_center_crop(image, image_size)
        return augment.normalize(image, spec.mean, spec.std)
    image = tf.cast(image, tf.float32)
    if image.shape[0] != image_size:
        image = tf.image.resize(image, [image_size, image_size], method="bilinear")
    if not training:
        return augment.normalize(image, spec.mean, spec.std)
    crop_seed, flip_seed, cutout_seed = augment.split_seed(seed, 3)
    if spec.augmentation == "cifar":  # DARTS: crop, flip, normalise, cutout (evaluation only)
        image = augment.random_flip(
            augment.random_crop_with_padding(image, crop_seed, padding=4), flip_seed)
        image = augment.normalize(image, spec.mean, spec.std)
        return augment.cutout(image, cutout_seed, 16) if cutout else image
    image = augment.random_crop_with_padding(image, crop_seed, padding=max(image_size // 8, 1))
    return augment.normalize(image, spec.mean, spec.std)


def training_batches(examples, spec, image_size, batch_size, seed, epochs, initial_epoch=0,
                     shuffle_buffer=10_000, in_memory=None, cutout=True):
    """Augmented batches for epochs `initial_epoch .. epochs − 1`, and the steps per epoch
    (`seeded_batches` with this data set's augmentation; in memory for all but ImageNet).
    `cutout=False` leaves out the cutout of the "cifar" augmentation (DARTS searches
    without it and trains evaluation networks with it)."""
    if in_memory is None:
        in_memory = spec.augmentation != "imagenet"

    def prepare(example, example_seed):
        image, label = example
        return _prepare(image, spec, image_size, True, example_seed, cutout), label

    return seeded_batches(examples, prepare, batch_size, seed, epochs, initial_epoch,
                          shuffle_buffer, in_memory)


def seeded_batches(examples, prepare, batch_size, seed, epochs, initial_epoch=0,
                   shuffle_buffer=10_000, in_memory=True):
    """Shuffled batches of `prepare(example, example_seed)` for epochs `initial_epoch ..
    epochs − 1`, and the steps per epoch; `example` is the tuple of a dataset element.

    With the split in memory (`in_memory`; its elements must have fixed shapes), epoch e
    visits the examples in the order of a stateless permutation seeded by (seed, e)
    (`tf.random.experimental.index_shuffle`) and prepares example i with the seed
    (seed, e · N + i): the stream of batches is a pure function of `seed`, so a run resumed at
    epoch e continues exactly as an uninterrupted one. Data too large for memory (or of
    varying sizes) is shuffled through a `shuffle_buffer` seeded from (seed, initial_epoch):
    reproducible, but a resumed run sees other (equally random) orders than an uninterrupted
    one. The last partial batch of an epoch is dropped (static shapes for XLA and TPUs).
    """
    count = num_examples(examples)
    steps = count // batch_size
    if steps == 0:
        raise ValueError(
            f"Received batch_size={batch_size} for a split of {count} examples, expected at "
            "most the split's size. Lower the batch size or use a larger split.")
    seed = int(seed)

    def prepare_example(example, epoch, index):
        example_seed = tf.stack([tf.constant(seed, tf.int64), epoch * count + index])
        return prepare(example, example_seed)

    if in_memory:
        columns = examples.batch(count).get_single_element()

        def one_epoch(epoch):
            def example(position):
                index = tf.random.experimental.index_shuffle(
                    position, tf.stack([tf.constant(seed, tf.int64), epoch]),
                    tf.constant(count - 1, tf.int64))
                return prepare_example(tuple(tf.gather(c, index) for c in columns), epoch,
                                       index)

            return tf.data.Dataset.range(count).map(
                example, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size,
                                                                   drop_remainder=True)
    else:
        shuffled = examples.enumerate().shuffle(
            min(shuffle_buffer, count), seed=seed * 1_000_003 + initial_epoch,
            reshuffle_each_iteration=True)

        def one_epoch(epoch):
            return shuffled.map(lambda index, example: prepare_example(example, epoch, index),
                                num_parallel_calls=tf.data.AUTOTUNE).batch(
                                    batch_size, drop_remainder=True)

    epochs_dataset = tf.data.Dataset.range(initial_epoch, epochs)
    return epochs_dataset.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE), steps


def evaluation_batches(examples, spec, image_size, batch_size, cache=None):
    """Normalised (and resized) batches in order, the last one partial."""
    if cache is None:
        cache = spec.augmentation != "imagenet"
    dataset = examples.cache() if cache else examples
    return dataset.map(
        lambda image, label: (preprocess_for_evaluation(image, spec, image_size), label),
        num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)
