"""Probe 32.14: a real data set on a machine without network is named at once, with how to
prepare it offline and which bundled configs run, before anything is written (egs-search
with the CIFAR-10 config retried the download for 3 min 36 s and ended in a
`ConnectionError` traceback, after writing config.json)."""

import importlib
import os
import pathlib
import subprocess
import sys

import pytest

from egs_keras import runs
from egs_keras.data import availability

ROOT = pathlib.Path(__file__).parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT),
       "EGS_KERAS_OFFLINE": "1"}


def _config(name):
    sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"configs.{name}").get_config()


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("EGS_KERAS_OFFLINE", "1")


@pytest.mark.parametrize("tfds_name, how", [
    ("cifar10", "tfds build cifar10"), ("imagenet2012", "ILSVRC2012_img_train.tar"),
    ("egs_ptb", "ptb.train.txt"), ("egs_wikitext2", "wiki.train.tokens"),
    ("egs_voc2012_segmentation", "VOCtrainval_11-May-2012.tar")])
def test_a_missing_data_set_is_named_with_how_to_prepare_it(tmp_path, offline, tfds_name,
                                                             how):
    with pytest.raises(availability.DataUnavailableError) as raised:
        availability.check_available(tfds_name, str(tmp_path / "tfds"))
    message = str(raised.value)
    for part in (repr(tfds_name), str(tmp_path / "tfds"), how, "configs/demo.py",
                 "configs/rnn_demo.py", "Nothing was written"):
        assert part in message
    assert not (tmp_path / "tfds").exists()


def test_bundled_or_manually_supplied_data_needs_no_network(tmp_path, offline):
    availability.check_available("egs_digits", str(tmp_path / "a"))
    manual = tmp_path / "b" / "downloads" / "manual"
    manual.mkdir(parents=True)
    (manual / "ptb.train.txt").write_text("a b c\n")
    availability.check_available("egs_ptb", str(tmp_path / "b"))  # the builder reads them


def test_an_unanswering_server_is_found_in_seconds(tmp_path, monkeypatch):
    """Without the override, the server is asked once (here: an address nothing listens on)."""
    monkeypatch.setitem(availability.DOWNLOAD_URLS, "cifar10", "http://127.0.0.1:9/x.tar")
    with pytest.raises(availability.DataUnavailableError, match="does not answer"):
        availability.check_available("cifar10", str(tmp_path / "tfds"), timeout=2.0)


@pytest.mark.parametrize("config, run", [
    ("ptb_search_m4", "pipeline"), ("imagenet_eval", "training"),
    ("voc2012_segmentation", "training")])
def test_runs_refuse_before_writing_anything(tmp_path, offline, config, run):
    config = _config(config)
    config.data.data_dir = str(tmp_path / "tfds")
    with pytest.raises(availability.DataUnavailableError, match="configs/demo.py"):
        if run == "pipeline":
            runs.run_pipeline(config, tmp_path / "run")
        else:
            runs.run_training(config, tmp_path / "run", "darts_v2")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_search_binary_says_so_at_once(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainers.search", "--config=configs/cifar10_search_m7.py",
         f"--workdir={tmp_path / 'run'}", f"--config.data.data_dir={tmp_path / 'tfds'}"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "The data set 'cifar10' is not prepared" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
