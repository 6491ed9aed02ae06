"""Recurrent search and language-model training through the run functions and trainers."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from configs import rnn_demo
from egs_keras import runs
from egs_keras.export import litert
from egs_keras.runs import language
from egs_keras.runs import tasks

ROOT = pathlib.Path(__file__).parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def _tiny(data_dir, **train):
    config = rnn_demo.get_config()
    config.data.data_dir = data_dir
    config.search.epochs, config.search.units = 2, 8
    config.train.epochs, config.train.units = 3, 12
    config.train.update(train)
    return tasks.validate_config(config)


def test_the_pipeline_searches_a_recurrent_cell_and_trains_its_language_model(data_dir,
                                                                              tmp_path):
    config = _tiny(data_dir)
    config.search.update(derive="sample_and_validate", derive_candidates=3)
    summary = runs.run_pipeline(config, tmp_path)
    # The paper's derivation, by validation loss (perplexity): every candidate in the summary.
    derivation = summary["genotype"]["derivation"]
    assert derivation["objective"] == "loss" and len(derivation["candidates"]) == 3
    losses = [c["scores"]["loss"] for c in derivation["candidates"]]
    assert derivation["chosen"] == losses.index(min(losses))
    assert {"loss", "perplexity"} <= set(derivation["candidates"][0]["scores"])
    unigram = 23.4  # the add-one unigram model of egs_sentences (see language_modeling)
    assert 1.0 < summary["test_perplexity"] < unigram and summary["vocabulary_size"] == 33
    genotype = json.loads((tmp_path / "search" / "genotype.json").read_text())
    assert genotype["kind"] == "rnn" and len(genotype["cells"]["recurrent"]["nodes"]) == 2
    assert (tmp_path / "search" / "cells" / "recurrent.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "train" / "vocabulary.txt").read_text().startswith("<unk>\n<eos>\n")
    assert len((tmp_path / "search" / "history.csv").read_text().splitlines()) == 3
    assert (pathlib.Path(summary["export"]) / "assets.extra" / "vocabulary.txt").exists()
    assert runs.run_pipeline(config, tmp_path) == summary  # finished: no-op
    # Asked for LiteRT afterwards (the export section may change): the finished run adds it
    # to its version, trains nothing, and its unrolled float32 file continues a text as the
    # SavedModel does.
    config.export.update(formats="saved_model,litert", litert_quantizations="float32")
    summary = runs.run_pipeline(config, tmp_path)
    export = pathlib.Path(summary["export"])
    assert export.name == "1" and sorted(p.name for p in export.parent.iterdir()
                                         if not p.name.startswith(".")) == ["1"]
    assert len((tmp_path / "train" / "history.csv").read_text().splitlines()) == 4
    with pytest.raises(FileExistsError, match="version 1 already exists"):  # before converting
        runs.export_training_run(tmp_path / "train", version=1, formats="saved_model,litert")
    served = tf.saved_model.load(str(export)).signatures["serving_default"]
    state = np.random.default_rng(0).normal(size=(2, config.train.units)).astype("float32")
    tokens = np.arange(2 * config.train.bptt, dtype="int32").reshape(2, -1) % 33
    expected = served(token_ids=tokens, state=state)
    got = litert.LiteRTModel(export / "litert" / "model_float32.tflite")(token_ids=tokens,
                                                                           state=state)
    for name in ("logits", "state", "next_token_probabilities"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-4, rtol=0)
    # Its size and latency beside the SavedModel's, as egs-pipeline prints them.
    assert list(summary["runtimes"]) == ["saved_model", "litert_float32"]
    assert summary["runtimes"]["litert_float32"]["bytes"] == (
        export / "litert" / "model_float32.tflite").stat().st_size


def test_training_a_published_cell_resumes_and_ends_with_averaged_weights(data_dir, tmp_path):
    config = _tiny(data_dir, averaging_patience=1)
    config.train.epochs = 2
    first = runs.run_training(config, tmp_path, "darts_rnn_v2")
    config.train.epochs = 4
    resumed = runs.run_training(config, tmp_path, "darts_rnn_v2")
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    assert "averaging" in rows[0]
    assert resumed["test_perplexity"] < 40 and first["parameters"] == resumed["parameters"]


def test_wrong_genotypes_strategies_and_fields_are_explained(data_dir, tmp_path):
    config = _tiny(data_dir)
    with pytest.raises(ValueError, match='a recurrent genotype'):
        runs.run_training(config, tmp_path / "a", "darts_v2")
    with pytest.raises(ValueError, match="does not carry hidden states"):
        language.run_search(config, tmp_path / "b", strategy="multi_worker")
    bad = _tiny(data_dir)
    bad.train.state_dropout = 1.0
    with pytest.raises(ValueError, match="config.train.state_dropout"):
        tasks.validate_config(bad)
    bad = _tiny(data_dir)
    bad.data.name = "ptb"
    with pytest.raises(ValueError, match="egs_sentences"):
        tasks.validate_config(bad)


def test_egs_train_binary_accepts_an_rnn_config(data_dir, tmp_path):
    command = [sys.executable, "-m", "trainers.train", "--config=configs/rnn_demo.py",
               f"--workdir={tmp_path}", f"--config.data.data_dir={data_dir}",
               "--genotype=darts_rnn_v2", "--config.train.epochs=1", "--config.train.units=8"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"test_perplexity"' in result.stdout
