"""PASCAL VOC 2012 semantic segmentation as a TFDS builder, `egs_voc2012_segmentation`.

TFDS' own `voc/2012` holds boxes and image labels but no segmentation masks, so this builder
reads the official archive: the images of `ImageSets/Segmentation/{train,val}.txt` (1,464 and
1,449) with their `SegmentationClass` masks. A mask is a palette PNG whose palette *index* is
the class (0 background, 1–20 the objects in `CLASS_NAMES` order, 255 object outlines and
"difficult" regions, ignored by loss and metrics); the builder stores those indices, not the
palette colours.

Files: put `VOCtrainval_11-May-2012.tar`, or the `VOCdevkit/` folder extracted from it, into
the manual directory `<data_dir>/downloads/manual/`; when the machine is online and the manual
directory is absent, the archive is downloaded from the official server.

>>> train = tfds.load("egs_voc2012_segmentation", split="train", data_dir=d)  # doctest: +SKIP
"""

import numpy as np
import tensorflow_datasets as tfds

from egs_keras.data import availability

CLASS_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
ARCHIVE = "VOCtrainval_11-May-2012.tar"
URL = "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/" + ARCHIVE
SPLIT_FILES = {"train": "train", "validation": "val"}


def read_palette_indices(path):
    """uint8 `[H, W]` palette indices of a VOC mask PNG (TensorFlow's decoder would return the
    palette's colours)."""
    from PIL import Image  # noqa: PLC0415 (Pillow comes with matplotlib; only needed here)

    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise ValueError(f"Received the mask {path} in PIL mode {image.mode!r}, expected a "
                             "palette ('P') or grey ('L') PNG of class indices.")
        return np.asarray(image, dtype=np.uint8)


class EgsVoc2012Segmentation(tfds.core.GeneratorBasedBuilder):
    """PASCAL VOC 2012 segmentation (train 1,464, validation 1,449), masks as class indices."""

    VERSION = tfds.core.Version("1.0.0")
    DOWNLOAD_URL = URL  # (availability asks it before a download)
    RELEASE_NOTES = {"1.0.0": "VOC 2012 train/val segmentation sets from the official archive."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put {ARCHIVE} (from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/), or the "
        "VOCdevkit/ folder extracted from it, into the manual directory.")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "segmentation_mask": tfds.features.Image(shape=(None, None, 1)),
                "image/filename": tfds.features.Text(),
            }),
            supervised_keys=("image", "segmentation_mask"),
            homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
            citation="Everingham, M. et al. (2010). The PASCAL Visual Object Classes (VOC) "
                     "Challenge. IJCV 88(2), 303-338.",
        )

    def _split_generators(self, dl_manager):
        root = self._voc_root(dl_manager)
        return {split: self._generate_examples(root, name)
                for split, name in SPLIT_FILES.items()}

    def _generate_examples(self, root, split_name):
        names = (root / "ImageSets" / "Segmentation" / f"{split_name}.txt").read_text().split()
        for name in names:
            mask = read_palette_indices(root / "SegmentationClass" / f"{name}.png")
            yield name, {"image": root / "JPEGImages" / f"{name}.jpg",
                         "segmentation_mask": mask[:, :, np.newaxis],
                         "image/filename": f"{name}.jpg"}

    def _voc_root(self, dl_manager):
        """`VOCdevkit/VOC2012` from the manual directory (folder or archive) or a download."""
        try:
            folder = dl_manager.manual_dir
        except AssertionError:  # TFDS: the manual directory is absent or empty
            folder = dl_manager._manual_dir
        if not folder.exists():  # no manual directory: try the official server
            try:
                availability.check_reachable(URL)
                return dl_manager.download_and_extract(URL) / "VOCdevkit" / "VOC2012"
            except Exception as error:  # noqa: BLE001 - any failure means: go manual
                raise FileNotFoundError(
                    f"Could not download {URL} ({type(error).__name__}: {error}). Offline, "
                    f"put {ARCHIVE} or its VOCdevkit/ folder into {folder}.") from None
        if (folder / "VOCdevkit").exists():
            root = folder / "VOCdevkit" / "VOC2012"
        elif (folder / ARCHIVE).exists():
            root = dl_manager.extract(folder / ARCHIVE) / "VOCdevkit" / "VOC2012"
        else:
            raise FileNotFoundError(
                f"The manual directory {folder} holds neither {ARCHIVE} nor a VOCdevkit/ "
                f"folder. {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        missing = [p for p in ("ImageSets/Segmentation/train.txt",
                               "ImageSets/Segmentation/val.txt", "JPEGImages",
                               "SegmentationClass") if not (root / p).exists()]
        if missing:
            raise FileNotFoundError(
                f"The VOC folder {root} lacks {', '.join(missing)}; expected the layout of "
                f"{ARCHIVE} (VOCdevkit/VOC2012/...).")
        return root
