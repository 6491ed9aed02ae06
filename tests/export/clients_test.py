"""The clients against a STAND-IN for TF Serving (`StandInServer` in conftest.py), which
follows TF Serving's documented REST contract and gRPC service; the real server cannot be
installed here."""

import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.export import GrpcClient
from egs_keras.export import RestClient
from egs_keras.export import ServingError
from egs_keras.export import export_classifier
from egs_keras.export.language_model import export_language_model
from egs_keras.layers import GenotypeRNNCell
from egs_keras.models import EvaluationNetwork
from egs_keras.models import RecurrentLanguageModel

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def server(tmp_path_factory, standin_server):
    model = EvaluationNetwork(search_space.published_genotype("darts_v2"), num_classes=10,
                              input_shape=SHAPE, filters=4, num_cells=3, auxiliary_weight=0.0)
    path = export_classifier(model, tmp_path_factory.mktemp("export"), "egs_digits",
                             warmup=False)
    return model, standin_server(path, "egs")


def _images():
    return tf.random.stateless_normal([3, *SHAPE], seed=[4, 2]).numpy()


def _png(seed):
    raw = np.random.default_rng(seed).integers(0, 256, size=SHAPE, dtype=np.uint8)
    return tf.io.encode_png(raw).numpy()


@pytest.mark.parametrize("data_format", ["row", "columnar"])
def test_rest_client_float_and_bytes(server, data_format):
    model, standin = server
    client = RestClient(standin.rest_url, "egs", data_format=data_format)
    out = client.predict(_images())
    np.testing.assert_allclose(out["logits"], model(_images(), training=False), atol=1e-5)
    assert out["classes"].shape == (3,) and out["top_k_classes"].shape == (3, 5)
    from_bytes = client.predict_bytes([_png(0), _png(1)])
    assert from_bytes["probabilities"].shape == (2, 10)


def test_grpc_client_float_and_bytes(server):
    model, standin = server
    client = GrpcClient(standin.grpc_target, "egs")
    try:
        out = client.predict(_images())
        np.testing.assert_allclose(out["logits"], model(_images(), training=False), atol=1e-5)
        rest = RestClient(standin.rest_url, "egs").predict_bytes([_png(3)])
        np.testing.assert_allclose(client.predict_bytes([_png(3)])["logits"], rest["logits"],
                                   atol=1e-5)
    finally:
        client.close()


def test_server_errors_come_back_with_their_message(server):
    _, standin = server
    with pytest.raises(ServingError, match="NaN or Inf"):
        RestClient(standin.rest_url, "egs").predict(np.full([1, *SHAPE], np.nan))
    with pytest.raises(ServingError, match="404.*not found"):
        RestClient(standin.rest_url, "other").predict(_images())
    client = GrpcClient(standin.grpc_target, "egs")
    try:
        with pytest.raises(ServingError, match="(?s)INVALID_ARGUMENT.*Unknown image file format"):
            client.predict_bytes([b"garbage"])
    finally:
        client.close()
    with pytest.raises(ValueError, match="data_format"):
        RestClient(standin.rest_url, "egs", data_format="json")


@pytest.mark.parametrize("data_format", ["row", "columnar"])
def test_both_clients_call_the_language_model_signatures(tmp_path, standin_server,
                                                         data_format):
    cell = GenotypeRNNCell(6, [[["tanh", 0]], [["relu", 1]]], [1, 2], seed=0)
    model = RecurrentLanguageModel(20, cell)
    server = standin_server(export_language_model(model, tmp_path, warmup=False), "lm")
    tokens = np.random.default_rng(0).integers(0, 20, (2, 5))
    expected, _ = model.forward(tokens)
    grpc_client = GrpcClient(server.grpc_target, "lm")
    try:
        for client in (RestClient(server.rest_url, "lm", data_format=data_format),
                       grpc_client):
            out = client.next_token(tokens, np.zeros([2, 6]))
            np.testing.assert_allclose(out["logits"], expected, atol=1e-5)
            assert out["state"].shape == (2, 6)
            assert client.score(tokens)["perplexity"].shape == (2,)
            with pytest.raises(ServingError, match="values in"):
                client.score(tokens + 20)
    finally:
        grpc_client.close()
