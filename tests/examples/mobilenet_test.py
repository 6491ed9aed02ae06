"""The MobileNet example end to end on the bundled digits, as `egs-mobilenet` runs it: search
with the latency prior, derive, retrain next to the baselines, export and serve."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from configs import mobilenet_digits
from egs_keras.examples import mobilenet


def _tiny(data_dir):
    config = mobilenet_digits.get_config()
    config.data.data_dir = str(data_dir)
    config.data.train_split = "train[:30%]"
    config.model.stem, config.model.head = 4, 8
    config.model.stages = ((4, 2, 1), (8, 1, 2))
    config.search.epochs = config.train.epochs = 1
    config.search.op_costs = "litert"  # the prior of a LiteRT deployment
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("mobilenet")
    config = _tiny(root / "tfds")
    return config, root / "run", mobilenet.run(config, root / "run")


def test_the_run_compares_the_searched_network_with_its_baselines(finished):
    config, workdir, results = finished
    assert sorted(results["architecture"]) == ["block0", "block1", "block2"]
    assert results["search_seconds"] > 0
    largest = mobilenet.largest_architecture(keras.models.load_model(workdir / "search.keras"))
    assert all(names == [f"{block}_k7_e6"] for block, names in largest.items())
    for name in ("searched", "largest", "random"):
        scores = results[name]
        assert 0.0 <= scores["test_accuracy"] <= 1.0 and scores["latency_ms"] > 0
        assert scores["parameters"] > 0 and 0.0 <= scores["int8_test_accuracy"] <= 1.0
        assert sorted(scores["litert_ms"]) == ["float32", "int8"]
        assert all(ms > 0 for ms in scores["litert_ms"].values())
    assert results["largest"]["parameters"] >= max(results["searched"]["parameters"],
                                                   results["random"]["parameters"])
    written = json.loads((workdir / "results.json").read_text())
    assert written == results
    assert mobilenet.run(config, workdir) == results  # finished: returns its results


def test_the_export_serves_the_retrained_network_in_a_fresh_process(finished,
                                                                       fresh_process):
    _, workdir, results = finished
    model = keras.models.load_model(workdir / "searched.keras")
    images = np.random.default_rng(0).normal(size=(3, 16, 16, 1)).astype("float32")
    served = fresh_process(results["searched"]["export"], "serving_default",
                           {"images": images})
    np.testing.assert_allclose(served["logits"], model.predict(images, verbose=0),
                               atol=1e-4, rtol=0)
    assert json.loads((workdir / "export" / "1" / "assets.extra" / "architecture.json")
                      .read_text()) == results["architecture"]


def test_the_litert_prior_was_measured_per_candidate(finished):
    _, workdir, _ = finished
    choice = keras.models.load_model(workdir / "search.keras").choices["block1"]
    costs = dict(zip(choice.candidate_names, choice.decision.op_costs, strict=True))
    # One inference each in LiteRT: skipping the block costs least, a wider block more.
    assert costs["block1_skip"] < min(c for n, c in costs.items() if n != "block1_skip")
    assert costs["block1_k7_e6"] > costs["block1_k3_e3"]


def test_a_crash_after_the_search_goes_on_from_the_next_stage(finished, tmp_path):
    config, workdir, results = finished
    config = config.copy_and_resolve_references()
    config.litert = False  # (the LiteRT columns are tested above)
    for name in ("search.keras", "search.json", "search.architecture.json",
                 "stage_searched.json", "searched.keras"):
        (tmp_path / name).write_bytes((workdir / name).read_bytes())
    again = mobilenet.run(config, tmp_path)  # no new search: its model and time are kept
    assert again["search_seconds"] == results["search_seconds"]
    assert again["searched"]["test_accuracy"] == results["searched"]["test_accuracy"]
    assert again["architecture"] == results["architecture"]
    assert not (tmp_path / "export").exists()  # the searched network was not trained again


def test_the_binary_prints_the_finished_results(finished):
    config, workdir, results = finished
    done = subprocess.run(
        [sys.executable, "-m", "trainers.mobilenet", "--config=configs/mobilenet_digits.py",
         f"--workdir={workdir}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"test_accuracy"' in done.stdout and str(workdir) in done.stdout
