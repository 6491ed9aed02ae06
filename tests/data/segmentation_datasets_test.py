import pathlib
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from egs_keras.data import availability
from egs_keras.data import segmentation_datasets
from egs_keras.data import shapes
from egs_keras.data import voc

DUMMY = pathlib.Path(__file__).parent / "dummy_data" / "egs_voc2012_segmentation"
VOC_ROOT = DUMMY / "VOCdevkit" / "VOC2012"


class EgsVoc2012SegmentationTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = voc.EgsVoc2012Segmentation
    EXAMPLE_DIR = DUMMY
    SPLITS = {"train": 2, "validation": 1}
    SKIP_CHECKSUMS = True


class EgsShapesTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = shapes.EgsShapes
    EXAMPLE_DIR = DUMMY  # unused: the images are generated
    SPLITS = {"train": 1000, "validation": 200}
    SKIP_CHECKSUMS = True


def test_voc_masks_keep_palette_indices_not_colours(tmp_path):
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    with tarfile.open(manual / voc.ARCHIVE, "w") as archive:  # the archive, as downloaded
        archive.add(DUMMY / "VOCdevkit", arcname="VOCdevkit")
    examples = segmentation_datasets.load_examples("voc2012", "train", str(tmp_path))
    masks = {image.shape[:2]: mask[..., 0] for image, mask in tfds.as_numpy(examples)}
    expected = voc.read_palette_indices(VOC_ROOT / "SegmentationClass" / "2007_000032.png")
    np.testing.assert_array_equal(masks[(14, 20)], expected)
    assert set(np.unique(expected)) == {0, 1, 15, 255}  # person = 15, outline = 255


def test_a_missing_voc_download_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("EGS_KERAS_OFFLINE", "1")  # as on a machine without network
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    with pytest.raises(availability.DataUnavailableError,
                       match=rf"{manual}.*VOCtrainval_11-May-2012\.tar"):
        segmentation_datasets.load_examples("voc2012", "train", str(tmp_path))
    (manual / "VOCdevkit" / "VOC2012" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="lacks ImageSets/Segmentation/train.txt"):
        segmentation_datasets.load_examples("voc2012", "train", str(tmp_path))


def test_shape_masks_mark_outlines_as_ignored():
    labels = np.zeros([12, 12], np.uint8)
    labels[shapes.shape_mask("square", (6, 6), 3, size=12)] = 1
    edge = shapes.outline(labels)
    assert edge.sum() == 6 * 4 - 4 and not edge[6, 6] and edge[3, 6]  # the square's border
    image, mask = shapes.random_example(np.random.default_rng(0))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1, 2, 3, 255}
    with pytest.raises(ValueError, match="kind 'hexagon'"):
        shapes.shape_mask("hexagon", (6, 6), 3)


def _labelled_images(count=6, size=20):
    """Images whose first channel is 10 × their label: alignment is checkable after
    augmentation (with scale 1: crops and flips only)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=(count, size, size, 1)).astype(np.uint8)
    images = np.concatenate([labels * 10, rng.integers(0, 255, (count, size, size, 2))],
                            axis=-1).astype(np.uint8)
    return tf.data.Dataset.from_tensor_slices((images, labels))


def test_training_crops_move_image_and_mask_together_and_resume_exactly():
    spec = segmentation_datasets.SegmentationDataset(
        "unused", ("a", "b", "c", "d"), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), crop_size=24,
        eval_size=24, scale_range=(1.0, 1.0), in_memory=True)
    batches, steps = segmentation_datasets.training_batches(_labelled_images(), spec, 24, 2,
                                                            seed=3, epochs=3)
    assert steps == 3
    seen = list(batches)
    for images, labels in seen:
        assert images.shape == (2, 24, 24, 3) and labels.dtype == tf.int32
        padded = labels.numpy() == 255  # 20 → 24 pixels: padding is ignored ...
        assert padded.mean() == pytest.approx(1 - (20 * 20) / (24 * 24))
        np.testing.assert_array_equal(  # ... and every other pixel kept its label
            np.round(images[..., 0].numpy() * 255 / 10)[~padded], labels.numpy()[~padded])
    resumed, _ = segmentation_datasets.training_batches(_labelled_images(), spec, 24, 2,
                                                        seed=3, epochs=3, initial_epoch=2)
    for (a, b), (c, d) in zip(seen[6:], resumed, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_the_voc_pipeline_runs_on_mock_data():
    spec = segmentation_datasets.get_dataset("voc2012")
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        examples = segmentation_datasets.load_examples("voc2012", "train")
        batches, steps = segmentation_datasets.training_batches(examples, spec, 64, 3, 0, 1)
        images, labels = next(iter(batches))
        evaluation = segmentation_datasets.evaluation_batches(examples, spec, 512, 4)
        # Mock masks are drawn independently of their images: evaluation says so.
        with pytest.raises(tf.errors.InvalidArgumentError, match="Expected a mask of its image"):
            next(iter(evaluation))
    assert steps == 2 and images.shape == (3, 64, 64, 3) and labels.shape == (3, 64, 64)
    assert np.isfinite(images.numpy()).all()


def test_evaluation_refuses_images_larger_than_the_evaluation_size():
    spec = segmentation_datasets.get_dataset("egs_shapes")
    batches = segmentation_datasets.evaluation_batches(_labelled_images(size=40), spec, 32, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 32×32.*eval_size"):
        next(iter(batches))
