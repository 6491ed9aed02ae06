"""TF Serving warm-up records: one `PredictionLog` per signature in
`assets.extra/tf_serving_warmup_requests`, so a server runs each graph once before its first
real request. Built with `tensorflow-serving-api`.

>>> write_warmup_requests(path, classifier_inputs((32, 32, 3)))   # doctest: +SKIP
>>> [replay(served, log) for log in read_warmup_requests(path)]  # doctest: +SKIP
"""

import numpy as np
import tensorflow as tf


def classifier_inputs(image_shape):
    """Warm-up inputs of an image classifier: a zero image for `serving_default`, its PNG for
    `serving_bytes`."""
    zeros = np.zeros(image_shape, np.uint8)
    return {"serving_default": {"images": np.zeros([1, *image_shape], np.float32)},
            "serving_bytes": {"image_bytes": np.array([tf.io.encode_png(zeros).numpy()])}}


def warmup_requests(inputs):
    """`PredictionLog`s, one per signature of `inputs` = {signature: {input name: array}}."""
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    logs = []
    for signature, tensors in inputs.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = signature
        for name, value in tensors.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        logs.append(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(path, inputs):
    """Writes the warm-up records of `inputs` (see `warmup_requests`) to `path`."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in warmup_requests(inputs):
            writer.write(log.SerializeToString())


def read_warmup_requests(path):
    """The `PredictionLog`s stored in a warm-up file."""
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(str(path))]


def replay(served, log):
    """Runs one warm-up request against a loaded SavedModel (`tf.saved_model.load`) the way
    TF Serving would; returns the signature's outputs."""
    request = log.predict_log.request
    signature = served.signatures[request.model_spec.signature_name or "serving_default"]
    return signature(**{name: tf.constant(tf.make_ndarray(proto))
                        for name, proto in request.inputs.items()})
