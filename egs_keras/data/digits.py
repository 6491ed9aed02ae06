"""The bundled default data set: 1,797 handwritten digits, 8×8 grey levels, as a TFDS builder.

The images are the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin,
C. Kaynak, 1998; CC BY 4.0), the copy scikit-learn ships, stored in
`egs_keras/data/bundled/digits.csv.gz` (64 pixels in 0..16 and the label per line). They go
through the same TFDS and tf.data code as CIFAR-10, so the demo and the tests exercise the real
pipelines with no network:

>>> import tensorflow_datasets as tfds
>>> train = tfds.load("egs_digits", split="train", data_dir=tmp_dir)  # doctest: +SKIP

Splits: "train" (the first 1,500 images) and "test" (the other 297). Images are stored as
uint8 `[8, 8, 1]` (levels × 16, capped at 255); pipelines resize them to the model's size.
"""

import gzip
import importlib.resources

import numpy as np
import tensorflow_datasets as tfds

NUM_TRAIN = 1500


def _bundled_rows():
    path = importlib.resources.files("egs_keras") / "data" / "bundled" / "digits.csv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt") as text:
        return np.loadtxt(text, delimiter=",", dtype=np.int64)


class EgsDigits(tfds.core.GeneratorBasedBuilder):
    """Handwritten digits 0-9, 8×8×1, bundled with egs_keras (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "The UCI optical digits test set, as scikit-learn ships it."}

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
            citation="Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten "
                     "Digits. UCI Machine Learning Repository. https://doi.org/10.24432/C50P49",
        )

    def _split_generators(self, dl_manager):
        rows = _bundled_rows()
        return {"train": self._generate_examples(rows[:NUM_TRAIN], 0),
                "test": self._generate_examples(rows[NUM_TRAIN:], NUM_TRAIN)}

    def _generate_examples(self, rows, offset):
        for i, row in enumerate(rows):
            image = np.minimum(row[:64] * 16, 255).astype(np.uint8).reshape(8, 8, 1)
            yield offset + i, {"image": image, "label": int(row[64])}
