"""Clients of a TF Serving model server: REST (JSON, row or columnar) and gRPC.

>>> client = RestClient("http://localhost:8501", model_name="egs")         # doctest: +SKIP
>>> client.predict(images)["classes"]                                      # doctest: +SKIP
>>> client.predict_bytes([open("digit.png", "rb").read()])["top_k_classes"]  # doctest: +SKIP
>>> GrpcClient("localhost:8500", model_name="egs").predict(images)         # doctest: +SKIP

>>> client.score(token_ids)["perplexity"]                                  # doctest: +SKIP

Both return {output name: numpy array}: `predict` / `predict_bytes` for the signatures of
`export_classifier` and `export_segmenter` (same inputs; a segmenter returns `class_map`),
`next_token` / `score` for those of `export_language_model`. Server errors (a bad request, an
unknown model) raise `ServingError` with the server's message.
"""

import base64
import json
import urllib.error
import urllib.request

import numpy as np


class ServingError(RuntimeError):
    """The model server rejected a request; the message is the server's."""


class _SignatureCalls:
    """The signatures a client can call; subclasses send `{input name: array}` requests."""

    def predict(self, images, signature="serving_default"):
        """Outputs for float32 images `[N, H, W, C]` (preprocessed as in evaluation)."""
        return self._request(signature, {"images": np.asarray(images, np.float32)})

    def predict_bytes(self, encoded_images, signature="serving_bytes"):
        """Outputs for encoded images (bytes of JPEG, PNG, GIF or BMP files)."""
        return self._request(signature, {"image_bytes": np.array(
            [bytes(b) for b in encoded_images], dtype=object)})

    def next_token(self, token_ids, state, signature="serving_default"):
        """A language model's `logits`, `next_token_probabilities` and new `state` for int
        token ids `[N, T]` continuing from `state` `[N, units]` (zeros: a new text)."""
        return self._request(signature, {"token_ids": np.asarray(token_ids, np.int32),
                                         "state": np.asarray(state, np.float32)})

    def score(self, token_ids, signature="score"):
        """A language model's `log_likelihood`, `perplexity` and `token_log_probabilities`
        of int token ids `[N, T]`, T ≥ 2."""
        return self._request(signature, {"token_ids": np.asarray(token_ids, np.int32)})


def _json_values(array):
    """An array as JSON values; binary strings as TF Serving's {"b64": ...} objects."""
    if array.dtype == object:
        return [{"b64": base64.b64encode(bytes(b)).decode("ascii")} for b in array]
    return array.tolist()


class RestClient(_SignatureCalls):
    """TF Serving's REST API: `POST <url>/v1/models/<name>[/versions/<v>]:predict`.

    Args:
        url: the server, e.g. "http://localhost:8501".
        model_name: the served model's name.
        version: a version number, or None for the newest.
        data_format: "row" (`instances`, one entry per example) or "columnar" (`inputs`).
        timeout: seconds per request.
    """

    def __init__(self, url, model_name, version=None, data_format="row", timeout=30.0):
        if data_format not in ("row", "columnar"):
            raise ValueError(f"Received data_format={data_format!r}, expected 'row' or "
                             "'columnar'.")
        path = f"/v1/models/{model_name}" + (f"/versions/{int(version)}" if version else "")
        self.endpoint = url.rstrip("/") + path + ":predict"
        self.data_format = data_format
        self.timeout = timeout

    def _request(self, signature, inputs):
        values = {name: _json_values(array) for name, array in inputs.items()}
        if self.data_format == "row":
            count = len(next(iter(values.values())))
            body = {"signature_name": signature,
                    "instances": [{name: v[i] for name, v in values.items()}
                                  for i in range(count)]}
        else:
            body = {"signature_name": signature, "inputs": values}
        request = urllib.request.Request(
            self.endpoint, data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise ServingError(f"{self.endpoint} answered {error.code}: {detail}") from None
        if "predictions" in answer:  # row format: a list of {output: value} (or bare values)
            rows = answer["predictions"]
            if rows and isinstance(rows[0], dict):
                return {key: np.asarray([row[key] for row in rows]) for key in rows[0]}
            return {"output": np.asarray(rows)}
        outputs = answer["outputs"]
        if isinstance(outputs, dict):
            return {key: np.asarray(value) for key, value in outputs.items()}
        return {"output": np.asarray(outputs)}


class GrpcClient(_SignatureCalls):
    """TF Serving's gRPC `PredictionService` (through `tensorflow-serving-api`).

    Args:
        target: "host:port" of the server's gRPC port (8500 by default in TF Serving).
        model_name: the served model's name.
        version: a version number, or None for the newest.
        timeout: seconds per request.
    """

    def __init__(self, target, model_name, version=None, timeout=30.0):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.channel = grpc.insecure_channel(target)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_name = model_name
        self.version = version
        self.timeout = timeout

    def _request(self, signature, inputs):
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = signature
        if self.version:
            request.model_spec.version.value = int(self.version)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        try:
            response = self.stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingError(f"{error.code().name}: {error.details()}") from None
        return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}

    def close(self):
        self.channel.close()
