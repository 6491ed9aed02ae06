import os

import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.data import language_modeling
from egs_keras.export import warmup
from egs_keras.export.language_model import export_language_model
from egs_keras.layers import GenotypeRNNCell
from egs_keras.models import RecurrentLanguageModel

VOCAB, UNITS = 40, 12
TOLERANCE = 1e-5  # SavedModel vs in-memory Keras model, absolute, on logits
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TOKENS = np.random.default_rng(0).integers(0, VOCAB, (3, 9)).astype("int32")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    recurrent = search_space.published_genotype("darts_rnn_v2").cells["recurrent"]
    cell = GenotypeRNNCell(UNITS, recurrent.to_dict()["nodes"], recurrent.concat,
                           kernel_initializer="glorot_uniform", seed=0)
    model = RecurrentLanguageModel(VOCAB, cell, batch_size=4)
    vocabulary = language_modeling.Vocabulary(["<unk>", "<eos>"] +
                                              [f"w{i}" for i in range(VOCAB - 2)])
    path = export_language_model(model, tmp_path_factory.mktemp("export"),
                                 vocabulary=vocabulary)
    return model, path, tf.saved_model.load(str(path))


def test_a_process_without_egs_keras_reproduces_the_model(exported, fresh_process):
    model, path, _ = exported
    served = fresh_process(path, "serving_default",
                           {"token_ids": TOKENS, "state": np.zeros([3, UNITS], np.float32)})
    expected, _ = model.forward(TOKENS)
    np.testing.assert_allclose(served["logits"], expected, atol=TOLERANCE, rtol=0)
    assert (path / "assets.extra" / "vocabulary.txt").read_text().startswith("<unk>\n<eos>\nw0")


def test_the_returned_state_continues_a_text_and_score_matches_the_logits(exported):
    _, _, served = exported
    step = served.signatures["serving_default"]
    whole = step(token_ids=TOKENS, state=tf.zeros([3, UNITS]))
    first = step(token_ids=TOKENS[:, :4], state=tf.zeros([3, UNITS]))
    second = step(token_ids=TOKENS[:, 4:], state=first["state"])
    np.testing.assert_allclose(second["logits"], whole["logits"][:, 4:], atol=1e-5)
    np.testing.assert_allclose(tf.reduce_sum(whole["next_token_probabilities"], -1), 1.0,
                               atol=1e-5)
    scored = served.signatures["score"](token_ids=TOKENS)
    log_probs = tf.nn.log_softmax(whole["logits"][:, :-1])
    expected = np.take_along_axis(log_probs.numpy(), TOKENS[:, 1:, None], -1)[..., 0]
    np.testing.assert_allclose(scored["token_log_probabilities"], expected, atol=1e-4)
    np.testing.assert_allclose(scored["perplexity"],
                               np.exp(-expected.mean(axis=1)), rtol=1e-4)


@pytest.mark.parametrize("signature, inputs, message", [
    ("serving_default", {"token_ids": np.zeros([2], np.int32)}, "got shape"),
    ("serving_default", {"token_ids": np.zeros([0, 3], np.int32)}, "N >= 1"),
    ("serving_default", {"token_ids": np.full([1, 3], VOCAB, np.int32)}, "values in"),
    ("serving_default", {"token_ids": np.full([1, 3], -1, np.int32)}, "values in"),
    ("serving_default", {"state": np.zeros([2, UNITS], np.float32)}, "state of shape"),
    ("serving_default", {"state": np.full([1, UNITS], np.nan, np.float32)}, "NaN"),
    ("score", {"token_ids": np.zeros([1, 1], np.int32)}, "T >= 2"),
])
def test_bad_requests_fail_with_a_message(exported, signature, inputs, message):
    _, _, served = exported
    arguments = {"token_ids": np.zeros([1, 3], np.int32)}
    if signature == "serving_default":
        arguments["state"] = np.zeros([1, UNITS], np.float32)
    arguments.update(inputs)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        served.signatures[signature](**{k: tf.constant(v) for k, v in arguments.items()})


def test_warmup_records_replay_and_the_cli_lists_stable_names(exported, show_signatures):
    _, path, served = exported
    logs = warmup.read_warmup_requests(path / "assets.extra" / "tf_serving_warmup_requests")
    assert sorted(log.predict_log.request.model_spec.signature_name for log in logs) == \
        ["score", "serving_default"]
    for log in logs:
        assert all(np.all(np.isfinite(v)) for v in warmup.replay(served, log).values())
    text = show_signatures(path)
    for name in ["signature_def['serving_default']", "signature_def['score']",
                 "inputs['token_ids']", "inputs['state']", "outputs['logits']",
                 "outputs['next_token_probabilities']", "outputs['state']",
                 "outputs['log_likelihood']", "outputs['perplexity']",
                 "outputs['token_log_probabilities']"]:
        assert name in text
