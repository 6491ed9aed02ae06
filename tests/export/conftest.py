"""A STAND-IN for TF Serving, for testing the clients without `tensorflow_model_server` (which
cannot be installed on the development machines): it serves one SavedModel directory through

* the REST predict API as TF Serving documents it
  (https://www.tensorflow.org/tfx/serving/api_rest): `POST /v1/models/<name>:predict` with
  `{"signature_name", "instances"}` (row) or `{"inputs"}` (columnar), `{"b64": ...}` for
  binary strings, answering `{"predictions"}` or `{"outputs"}`, errors as `{"error"}`;
* the gRPC `PredictionService.Predict` from `tensorflow-serving-api`.

It is not TF Serving: no batching, no version policy, one model.

Also here: `show_signatures`, the text of `saved_model_cli show --all` for a SavedModel
(`fresh_process`, a SavedModel's outputs computed by a new process without egs_keras, is in
tests/conftest.py).
"""

import base64
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import numpy as np
import pytest
import tensorflow as tf


def _decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _encode(array):
    if array.dtype == object:
        return [base64.b64encode(v).decode("ascii") for v in array.ravel()]
    return array.tolist()


class StandInServer:
    """Serves `model_dir` as model `model_name` on free localhost ports (REST and gRPC)."""

    def __init__(self, model_dir, model_name):
        self.model = tf.saved_model.load(str(model_dir))
        self.model_name = model_name
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.rest_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self._grpc, port = self._grpc_server()
        self.grpc_target = f"127.0.0.1:{port}"

    def run(self, signature_name, inputs):
        signature = self.model.signatures[signature_name or "serving_default"]
        specs = signature.structured_input_signature[1]
        # As TF Serving's REST API does: JSON numbers take the signature's dtype.
        arguments = {name: tf.constant(value, specs[name].dtype if name in specs else None)
                     for name, value in inputs.items()}
        return {k: v.numpy() for k, v in signature(**arguments).items()}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                expected = f"/v1/models/{server.model_name}:predict"
                if self.path != expected:
                    return self._reply(404, {"error": f"Servable not found for {self.path}"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    if "instances" in body:
                        names = body["instances"][0].keys()
                        inputs = {n: np.array(_decode([row[n] for row in body["instances"]]))
                                  for n in names}
                    else:
                        inputs = {n: np.array(_decode(v)) for n, v in body["inputs"].items()}
                    outputs = server.run(body.get("signature_name"), inputs)
                except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
                    message = getattr(error, "message", str(error))
                    return self._reply(400, {"error": message})
                if "instances" in body:
                    count = len(next(iter(outputs.values())))
                    rows = [{k: _encode(v[i:i + 1])[0] for k, v in outputs.items()}
                            for i in range(count)]
                    return self._reply(200, {"predictions": rows})
                return self._reply(200, {"outputs": {k: _encode(v) for k, v in
                                                     outputs.items()}})

            def _reply(self, code, payload):
                data = json.dumps(payload).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _grpc_server(self):
        import grpc
        from tensorflow_serving.apis import predict_pb2
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        server = self

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):
                if request.model_spec.name != server.model_name:
                    context.abort(grpc.StatusCode.NOT_FOUND,
                                  f"Servable not found for {request.model_spec.name}")
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                try:
                    outputs = server.run(request.model_spec.signature_name, inputs)
                except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  getattr(error, "message", str(error)))
                response = predict_pb2.PredictResponse()
                for key, value in outputs.items():
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
                return response

        grpc_server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(),
                                                                            grpc_server)
        port = grpc_server.add_insecure_port("127.0.0.1:0")
        grpc_server.start()
        return grpc_server, port

    def stop(self):
        self._http.shutdown()
        self._grpc.stop(None)


@pytest.fixture(scope="module")
def standin_server():
    """Starts StandInServer(model_dir, model_name); stops every server at the module's end."""
    servers = []

    def start(model_dir, model_name):
        servers.append(StandInServer(model_dir, model_name))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def show_signatures():
    """A function: SavedModel directory → the text of `saved_model_cli show --all`."""
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable),
                                                           "saved_model_cli")

    def show(path):
        return subprocess.run([cli, "show", "--dir", str(path), "--all"], capture_output=True,
                              text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                              check=True, timeout=300).stdout

    return show
