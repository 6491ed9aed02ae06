"""Data: TFDS sources (CIFAR-10, ImageNet, the bundled digits, PASCAL VOC 2012, the generated
shapes) and tf.data pipelines."""

from egs_keras.data import augment
from egs_keras.data import digits
from egs_keras.data import image_datasets
from egs_keras.data import segmentation_datasets
from egs_keras.data.image_datasets import DATASETS
from egs_keras.data.image_datasets import evaluation_batches
from egs_keras.data.image_datasets import get_dataset
from egs_keras.data.image_datasets import load_examples
from egs_keras.data.image_datasets import training_batches
