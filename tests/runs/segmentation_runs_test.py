"""Segmentation runs on the generated shapes: learning, records, resume, pipeline, counts."""

import csv
import importlib.util
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from egs_keras import runs
from egs_keras.data import segmentation_datasets
from egs_keras.export import litert
from egs_keras.runs import segmentation
from egs_keras.runs import tasks

CONFIGS = pathlib.Path(__file__).parents[2] / "configs"


def _config(name, tmp):
    spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.data.data_dir = str(tmp / "tfds")
    if "cell_search" in config:
        config.cell_search.data.data_dir = str(tmp / "tfds")
    return config


def _history(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The CPU config on DARTS V2's cells, 12 epochs (about 60 s)."""
    tmp = tmp_path_factory.mktemp("shapes")
    config = _config("shapes_segmentation", tmp)
    config.train.epochs = 12
    config.genotype = "darts_v2"
    config.export.update(formats="saved_model,litert", litert_quantizations="int8")
    tasks.validate_config(config)
    summary = runs.run_pipeline(config, tmp / "run")
    return config, tmp / "run", summary


def _all_background_mean_iou(config):
    """Chance level: the mean IoU of predicting background everywhere."""
    spec = segmentation_datasets.get_dataset("egs_shapes")
    examples = segmentation_datasets.load_examples("egs_shapes", "validation",
                                                   config.data.data_dir)
    labels = np.concatenate([m.numpy().ravel() for _, m in examples])
    labels = labels[labels != 255]
    present = len(np.unique(labels))
    assert present == spec.num_classes
    return np.mean(labels == 0) / present


def test_the_network_learns_shapes_well_above_chance(trained):
    config, workdir, summary = trained
    chance = _all_background_mean_iou(config)
    assert 0.15 < chance < 0.3
    assert summary["mean_iou"] > chance + 0.1
    assert all(summary["iou"][name] > 0.05 for name in ("square", "disk", "triangle")), summary
    rows = _history(workdir / "train" / "history.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(12))
    assert float(rows[-1]["val_mean_iou"]) > float(rows[0]["val_mean_iou"])
    assert {"val_iou_background", "val_iou_triangle", "iou_disk"} <= set(rows[0])


def test_results_and_summary_report_iou_per_class_and_cost(trained):
    _, workdir, summary = trained
    results = json.loads((workdir / "train" / "results.json").read_text())
    assert results["mean_iou"] == pytest.approx(summary["mean_iou"])
    assert set(results["iou"]) == {"background", "square", "disk", "triangle"}
    assert results["parameters"] > 0 and results["multiply_adds"] > results["parameters"]
    assert pathlib.Path(summary["export"]).name == "1"
    assert not (workdir / "search").exists()  # a given genotype is not searched again


def test_the_int8_litert_file_segments_as_the_savedmodel_does(trained):
    """At the evaluation size, calibrated on the run's training shapes."""
    config, workdir, summary = trained
    export = pathlib.Path(summary["export"])
    spec = segmentation_datasets.get_dataset("egs_shapes")
    size = config.data.eval_size or spec.eval_size
    examples = segmentation_datasets.load_examples("egs_shapes", "validation",
                                                   config.data.data_dir)
    images = next(iter(segmentation_datasets.evaluation_batches(examples, spec, size, 16)))[0]
    expected = tf.saved_model.load(str(export)).signatures["serving_default"](
        images=images)["class_map"].numpy()
    got = litert.LiteRTModel(export / "litert" / "model_int8.tflite")(images=images.numpy())
    assert got["logits"].shape == (16, size, size, spec.num_classes)
    assert np.mean(np.argmax(got["logits"], -1) == expected) > 0.97  # of the pixels


def test_a_finished_run_resumes_to_the_same_results_without_training(trained):
    config, workdir, summary = trained
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
    results = runs.run_training(config, workdir / "train", "darts_v2")
    assert len(_history(workdir / "train" / "history.csv")) == 12
    assert results["mean_iou"] == pytest.approx(summary["mean_iou"], abs=1e-6)
    # The run applied its config.train.graph_optimizer (False in this config), as every
    # training run does, whatever ran before it in the process.
    assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"]


def test_the_pipeline_searches_cells_then_segments_with_them(tmp_path):
    config = _config("shapes_segmentation", tmp_path)
    config.cell_search = _config("smoke", tmp_path)
    config.train.epochs = 1
    config.train.filters = 4
    summary = runs.run_pipeline(tasks.validate_config(config), tmp_path / "run")
    searched = json.loads((tmp_path / "run" / "search" / "genotype.json").read_text())
    assert summary["genotype"] == searched
    assert json.loads((tmp_path / "run" / "train" / "genotype.json").read_text()) == searched
    assert 0.0 <= summary["mean_iou"] <= 1.0


def test_counts_of_the_paper_network_without_training():
    config = segmentation.default_config()
    counts = runs.count_network(config, "darts_v2")
    assert counts["input_shape"] == [512, 512, 3]
    assert 5e6 < counts["parameters"] < 2e7  # 11.3M: the 256-channel head dominates
    assert counts["multiply_adds"] > 1e10


@pytest.mark.parametrize("field, value, message", [
    ("data.name", "cityscapes", r"data\.name.*egs_shapes"),
    ("data.crop_size", 100, r"config\.data\.crop_size.*multiple of config\.train\.output"),
    ("train.output_stride", 4, r"config\.train\.output_stride"),
    ("train.dropout", 1.0, r"config\.train\.dropout"),
    ("train.learning_rate", -1.0, r"config\.train\.learning_rate"),
    ("genotype", "nowhere.json", r"nowhere\.json"),
])
def test_bad_segmentation_fields_are_named(field, value, message):
    config = segmentation.default_config()
    if "." in field:
        section, name = field.split(".")
        config[section][name] = value
    else:
        config[field] = value
    with pytest.raises(ValueError, match=message):
        tasks.validate_config(config)
