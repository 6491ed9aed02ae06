"""Semantic segmentation data: TFDS sources and the training / evaluation tf.data pipelines.

Training (DeepLab's recipe): scale by a random factor in `scale_range` (image bilinear, mask
nearest), normalise, pad to at least the crop (image with 0 = the mean, mask with the ignore
label 255), take a random `crop_size`² crop and flip left-right with probability 1/2; image
and mask always move together. Every random choice derives from (seed, epoch, example index),
as for the classification data (`image_datasets.seeded_batches`), so resumed runs see the
same batches. Evaluation only normalises and pads to `eval_size`² (padding ignored).

>>> spec = get_dataset("egs_shapes")
>>> examples = load_examples("egs_shapes", "train", data_dir=tmp_dir)          # doctest: +SKIP
>>> batches, steps = training_batches(examples, spec, 32, batch_size=16, seed=0,
...                                   epochs=10)                             # doctest: +SKIP

Data sets: "voc2012" (PASCAL VOC 2012, manual download, see `data.voc`) and "egs_shapes"
(generated, no network, see `data.shapes`). Labels come out as int32 `[H, W]`.
"""

import dataclasses

import tensorflow as tf

from egs_keras import _validation
from egs_keras.data import augment
from egs_keras.data import image_datasets
from egs_keras.data import shapes
from egs_keras.data import voc

IGNORE_LABEL = 255


@dataclasses.dataclass(frozen=True)
class SegmentationDataset:
    """What the pipelines need to know about a TFDS segmentation data set.

    Args:
        tfds_name: the TFDS builder name (features "image", "segmentation_mask").
        class_names: one name per label; pixels labelled 255 are ignored.
        mean, std: per-channel statistics on the [0, 1] scale, for normalisation.
        crop_size: side of the training crops.
        eval_size: side every evaluation image is padded to (at least its largest side).
        scale_range: (min, max) of the random training scale factor.
        train_split, test_split: TFDS split names.
        in_memory: whether a split fits in memory with fixed-size examples (exact resume).
    """

    tfds_name: str
    class_names: tuple
    mean: tuple
    std: tuple
    crop_size: int
    eval_size: int
    scale_range: tuple
    train_split: str = "train"
    test_split: str = "validation"
    in_memory: bool = False

    @property
    def num_classes(self):
        return len(self.class_names)


DATASETS = {
    # DeepLab: 513² crops and evaluation; ours are multiples of 16 (any output stride).
    "voc2012": SegmentationDataset("egs_voc2012_segmentation", voc.CLASS_NAMES,
                                   (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 512, 512,
                                   (0.5, 2.0)),
    # Statistics of the generated train split.
    "egs_shapes": SegmentationDataset("egs_shapes", shapes.CLASS_NAMES, (0.4969, 0.4978, 0.4933),
                                      (0.2245, 0.2271, 0.2235), 32, 32, (0.75, 1.25),
                                      in_memory=True),
}


def get_dataset(name):
    """The `SegmentationDataset` registered under `name`."""
    if name not in DATASETS:
        raise _validation.invalid("data.name", f"one of {sorted(DATASETS)}", name)
    return DATASETS[name]


def load_examples(name, split, data_dir=None):
    """(uint8 image `[H, W, 3]`, uint8 mask `[H, W, 1]`) pairs of a TFDS split."""
    return image_datasets.load_supervised(get_dataset(name).tfds_name, split, data_dir)


def _labels(mask):
    return tf.cast(mask[..., 0], tf.int32)


def _pad(image, labels, height, width):
    """Pads at the bottom/right to at least `height` × `width` (image 0, labels ignored)."""
    pad_h = tf.maximum(height - tf.shape(image)[0], 0)
    pad_w = tf.maximum(width - tf.shape(image)[1], 0)
    image = tf.pad(image, [[0, pad_h], [0, pad_w], [0, 0]])
    labels = tf.pad(labels, [[0, pad_h], [0, pad_w]], constant_values=IGNORE_LABEL)
    return image, labels


def augment_pair(image, mask, spec, crop_size, seed):
    """One training example: (normalised float32 `[crop, crop, 3]`, int32 labels
    `[crop, crop]`) from a uint8 image and mask, randomised by the `[2]` seed."""
    scale_seed, crop_seed, flip_seed = augment.split_seed(seed, 3)
    low, high = spec.scale_range
    scale = tf.random.stateless_uniform([], scale_seed, low, high)
    size = tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) * scale), tf.int32)
    image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
    labels = _labels(tf.image.resize(mask, size, method="nearest"))
    image, labels = _pad(augment.normalize(image, spec.mean, spec.std), labels, crop_size,
                         crop_size)
    channels = image.shape[-1]
    stacked = tf.concat([image, tf.cast(labels, tf.float32)[..., tf.newaxis]], axis=-1)
    stacked = tf.image.stateless_random_crop(stacked, [crop_size, crop_size, channels + 1],
                                             crop_seed)
    stacked = augment.random_flip(stacked, flip_seed)
    return stacked[..., :channels], tf.cast(stacked[..., channels], tf.int32)


def preprocess_for_evaluation(image, spec):
    """A uint8 (or [0, 255] float) image → the normalised float32 image the network sees."""
    return augment.normalize(image, spec.mean, spec.std)


def pad_for_evaluation(image, mask, spec, eval_size):
    """(normalised image, labels) padded at the bottom/right to `eval_size`²; an error if the
    image is larger."""
    size = tf.shape(image)[:2]
    checks = [
        tf.debugging.assert_equal(size, tf.shape(mask)[:2], message="Expected a mask of its "
                                  "image's size; the data set pairs images and masks wrongly"),
        tf.debugging.assert_less_equal(
            tf.reduce_max(size), eval_size,
            message=f"Expected evaluation images of at most {eval_size}×{eval_size} pixels; "
                    "raise config.data.eval_size")]
    with tf.control_dependencies(checks):
        image = preprocess_for_evaluation(image, spec)
        labels = tf.identity(_labels(mask))
    return _pad(image, labels, eval_size, eval_size)


def training_batches(examples, spec, crop_size, batch_size, seed, epochs, initial_epoch=0):
    """Augmented (images, labels) batches for epochs `initial_epoch .. epochs − 1`, and the
    steps per epoch."""

    def prepare(example, example_seed):
        image, mask = example
        return augment_pair(image, mask, spec, crop_size, example_seed)

    return image_datasets.seeded_batches(examples, prepare, batch_size, seed, epochs,
                                         initial_epoch, in_memory=spec.in_memory)


def evaluation_batches(examples, spec, eval_size, batch_size):
    """Normalised, padded (images, labels) batches in order, the last one partial."""
    dataset = examples.cache() if spec.in_memory else examples
    return dataset.map(lambda image, mask: pad_for_evaluation(image, mask, spec, eval_size),
                       num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(
                           tf.data.AUTOTUNE)
