"""Serving speed: the exported SavedModel next to the in-memory Keras model and the LiteRT
files (float32 and int8), one process.

Latency = median seconds of one request of batch 1; throughput = images per second at batch 64
(median of the timed calls). The Keras model is called as a compiled `tf.function`, the
SavedModel through its `serving_default` signature (in-graph input checks included), the
LiteRT files through their signature in LiteRT's interpreter with `--litert_threads` threads
(int8 calibrated on 100 random-normal images: the timing does not depend on the values), all
after one warm-up call.

    python benchmarks/serving_benchmark.py [--calls 50] [--litert_threads 2]
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from egs_keras import search_space  # noqa: E402
from egs_keras.export import export_classifier  # noqa: E402
from egs_keras.export import litert  # noqa: E402
from egs_keras.models import EvaluationNetwork  # noqa: E402

NETWORKS = {
    "demo (3 cells, 12 filters, 16x16x1)": dict(input_shape=(16, 16, 1), filters=12,
                                                num_cells=3, dataset="egs_digits"),
    "CIFAR-10 paper (20 cells, 36 filters, 32x32x3)": dict(input_shape=(32, 32, 3), filters=36,
                                                           num_cells=20, dataset="cifar10"),
}


def _median_seconds(function, inputs, calls):
    function(inputs)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function(inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--litert_threads", type=int, default=2)
    args = parser.parse_args()
    genotype = search_space.published_genotype("darts_v2")
    print(f"{'network':<48} {'path':<14} {'batch-1 ms':>11} {'batch-64 img/s':>15}")
    for label, options in NETWORKS.items():
        dataset = options.pop("dataset")
        model = EvaluationNetwork(genotype, num_classes=10, auxiliary_weight=0.0, **options)
        keras_call = tf.function(lambda x, model=model: model(x, training=False))
        with tempfile.TemporaryDirectory() as base:
            path = export_classifier(model, base, dataset, warmup=False)
            signature = tf.saved_model.load(str(path)).signatures["serving_default"]

            def served(x, signature=signature):
                return signature(images=x)

            examples = tf.random.normal([100, *options["input_shape"]]).numpy()
            files = litert.convert_all(litert.classifier_signature(model), ["float32", "int8"],
                                       litert.representative_inputs(examples, "images"))
            paths = [("keras", keras_call), ("savedmodel", served)]
            for quantization, content in files.items():
                runner = litert.LiteRTModel(content, args.litert_threads)
                paths.append((f"litert {quantization}",
                              lambda x, r=runner: r(images=x.numpy())))
            for name, function in paths:
                one = tf.random.normal([1, *options["input_shape"]])
                many = tf.random.normal([64, *options["input_shape"]])
                latency = _median_seconds(function, one, args.calls)
                throughput = 64 / _median_seconds(function, many, max(args.calls // 5, 3))
                print(f"{label:<48} {name:<14} {1000 * latency:>11.2f} {throughput:>15.0f}")


if __name__ == "__main__":
    main()
