import json

import pytest
import tensorflow as tf

from egs_keras.training import strategies


def test_single_process_strategies_write_and_use_keras_fit():
    strategy = strategies.get_strategy("default")
    assert strategies.is_chief(strategy) and not strategies.uses_custom_loop(strategy)
    assert strategies.worker_id(strategy) is None
    with pytest.raises(ValueError, match=r"strategy.*'multi_worker', 'tpu'\]"):
        strategies.get_strategy("horovod")


@pytest.mark.parametrize("tf_config, message", [
    ("", "without a TF_CONFIG environment variable; expected the cluster"),
    ("{not json", r"Received TF_CONFIG='\{not json', expected JSON with a cluster"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}),
     "expected JSON with a cluster and a task of it"),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), "a task of it"),
])
def test_multi_worker_needs_a_valid_cluster_description(monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message):
        strategies.get_strategy("multi_worker")


def test_a_valid_cluster_description_is_returned(monkeypatch):
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1"]},
              "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert strategies.check_cluster_config() == config


def test_tpu_without_a_tpu_says_so():
    if tf.config.list_logical_devices("TPU"):
        pytest.skip("this machine has a TPU")
    with pytest.raises(ValueError, match="--strategy=tpu, but no TPU was found"):
        strategies.get_strategy("tpu")
