"""The bundled segmentation data set: generated images of squares, disks and triangles with
their per-pixel masks, as a TFDS builder (no files, no network).

Each 32×32 RGB image has a smooth random background and one to three objects of random colour
and size (4 to 9 pixels from centre to edge), later ones occluding earlier ones. The mask
holds the class of every pixel (0 background, 1 square, 2 disk, 3 triangle) and, as in PASCAL
VOC, 255 on each object's outline (pixels that are ignored by the loss and the metrics).
Colour says nothing about the class: only the shape does.

>>> import tensorflow_datasets as tfds
>>> train = tfds.load("egs_shapes", split="train", data_dir=tmp_dir)  # doctest: +SKIP

Splits: "train" (1,000 images) and "validation" (200), generated with seeds 0 and 1.
"""

import numpy as np
import tensorflow_datasets as tfds

CLASS_NAMES = ("background", "square", "disk", "triangle")
IGNORE_LABEL = 255
IMAGE_SIZE = 32


def shape_mask(kind, center, radius, size=IMAGE_SIZE):
    """Boolean `[size, size]` mask of a square, disk or triangle (pointing up) of `radius`
    (half the side, the radius, or the half-height) at `center` = (row, column)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    dy, dx = rows - center[0], cols - center[1]
    if kind == "square":
        return (np.abs(dy) <= radius) & (np.abs(dx) <= radius)
    if kind == "disk":
        return dy ** 2 + dx ** 2 <= radius ** 2
    if kind == "triangle":  # apex at the top, base at the bottom, as wide as it is tall
        return (np.abs(dy) <= radius) & (np.abs(dx) <= (dy + radius) / 2)
    raise ValueError(f"Received shape kind {kind!r}, expected one of {CLASS_NAMES[1:]}.")


def outline(labels):
    """Pixels of an object (label > 0) with a 4-neighbour of another label."""
    padded = np.pad(labels, 1, mode="edge")
    differs = np.zeros(labels.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dy:dy + labels.shape[0], dx:dx + labels.shape[1]] != labels
    return differs & (labels > 0)


def random_example(rng, size=IMAGE_SIZE):
    """(uint8 image `[size, size, 3]`, uint8 mask `[size, size, 1]`) drawn from `rng`."""
    corner_colours = rng.uniform(0, 255, size=(2, 2, 3))
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    top = corner_colours[0, 0] * (1 - t) + corner_colours[0, 1] * t
    bottom = corner_colours[1, 0] * (1 - t) + corner_colours[1, 1] * t
    image = top[None, :, 0] * (1 - t) + bottom[None, :, 0] * t  # bilinear gradient
    labels = np.zeros([size, size], np.uint8)
    for _ in range(rng.integers(1, 4)):
        label = int(rng.integers(1, len(CLASS_NAMES)))
        radius = rng.uniform(4, 9)
        center = rng.uniform(radius - 2, size - radius + 2, size=2)
        inside = shape_mask(CLASS_NAMES[label], center, radius, size)
        image[inside] = rng.uniform(0, 255, size=3)
        labels[inside] = label
    image += rng.normal(0, 8, size=image.shape)
    labels[outline(labels)] = IGNORE_LABEL
    return np.clip(image, 0, 255).astype(np.uint8), labels[:, :, None]


class EgsShapes(tfds.core.GeneratorBasedBuilder):
    """Squares, disks and triangles on smooth backgrounds, 32×32×3, with per-pixel masks."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Generated with numpy's default_rng(0) (train), (1) (validation)."}
    SIZES = {"train": 1000, "validation": 200}

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
                "segmentation_mask": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 1)),
            }),
            supervised_keys=("image", "segmentation_mask"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {split: self._generate_examples(size, seed)
                for seed, (split, size) in enumerate(self.SIZES.items())}

    def _generate_examples(self, count, seed):
        rng = np.random.default_rng(seed)
        for i in range(count):
            image, mask = random_example(rng)
            yield i, {"image": image, "segmentation_mask": mask}
