"""TPU readiness checked on the CPU: every train step compiles with XLA (Keras keeps
`jit_compile=True` only when the step compiles; it would fall back and warn otherwise)."""

import pytest

from egs_keras import search_space
from egs_keras.data import image_datasets
from egs_keras.data import segmentation_datasets
from egs_keras.runs import classification
from egs_keras.runs import segmentation
from egs_keras.runs import tasks

DARTS_V2 = search_space.published_genotype("darts_v2")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tfds"))
    spec = image_datasets.get_dataset("egs_digits")
    examples = image_datasets.load_examples("egs_digits", "train[:64]", directory)
    batches, steps = image_datasets.training_batches(examples, spec, 8, 16, seed=0, epochs=1)
    return directory, batches, steps


def _smoke_config(directory):
    config = classification.default_config()
    config.data.name, config.data.data_dir, config.data.image_size = "egs_digits", directory, 8
    config.search.update(epochs=1, filters=4, num_cells=2, num_nodes=4, num_samples=2,
                         execution="dense", jit_compile=True)
    config.train.update(epochs=1, filters=4, num_cells=3, auxiliary_weight=0.4,
                        jit_compile=True)
    return tasks.validate_config(config)


def test_search_and_evaluation_steps_compile_with_xla(digits):
    directory, batches, steps = digits
    config = _smoke_config(directory)
    for model in (classification.build_search_model(config, steps),
                  classification.build_evaluation_model(config, DARTS_V2, steps)):
        history = model.fit(batches, steps_per_epoch=steps, verbose=0)
        assert model.jit_compile is True, type(model).__name__
        assert history.history["loss"][0] > 0


def test_segmentation_steps_compile_with_xla(tmp_path):
    config = segmentation.default_config()
    config.data.name, config.data.data_dir = "egs_shapes", str(tmp_path)
    config.train.update(filters=4, num_cells=3, output_stride=8, aspp_filters=8,
                        decoder_filters=8, low_level_filters=4, jit_compile=True)
    spec = segmentation_datasets.get_dataset("egs_shapes")
    examples = segmentation_datasets.load_examples("egs_shapes", "validation", str(tmp_path))
    batches, steps = segmentation_datasets.training_batches(examples.take(32), spec, 32, 8,
                                                            seed=0, epochs=1)
    model = segmentation.build_segmentation_model(config, "darts_v2", steps)
    model.fit(batches, steps_per_epoch=steps, verbose=0)
    assert model.jit_compile is True


def test_sparse_execution_with_xla_is_refused():
    config = classification.default_config()
    config.search.execution, config.search.jit_compile = "sparse", True
    with pytest.raises(ValueError, match=r"config\.search\.jit_compile.*XLA does not compile"):
        tasks.validate_config(config)
