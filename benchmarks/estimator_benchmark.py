"""Cost of the Ensemble Gumbel-Softmax estimator next to one separable convolution, in one run.

Samples the codes of a DARTS-size search network — 2 cell types × 14 edges × 8 operations,
M = 7 — and runs one 3×3 separable convolution unit (ReLU, depthwise 3×3, pointwise 1×1, batch
norm) on a 32 × 32 × 16 batch of 32, forward and forward+backward, each in a `tf.function`
(and the estimator also under XLA). Prints median milliseconds and the estimator's cost as a
fraction of the convolution's. A search network runs dozens of such convolutions per step, so
the estimator must be a negligible fraction of one.

    python benchmarks/estimator_benchmark.py [--repeats 200]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from egs_keras import ops  # noqa: E402


def median_ms(function, repeats):
    """First-call seconds and median milliseconds of `function()` over `repeats` calls."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        _ = [t.numpy() for t in tf.nest.flatten(result)]  # wait for the result
        times.append(time.perf_counter() - start)
    return first, 1000 * statistics.median(times)


def estimator_steps(jit_compile):
    logits = tf.Variable(tf.random.normal([2, 14, 8], stddev=0.1))
    temperature = tf.Variable(5.0)
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function(jit_compile=jit_compile)
    def forward():
        step.assign_add(1)
        return ops.ensemble_gumbel_softmax(logits, 7, temperature, seed=0, step=step)

    @tf.function(jit_compile=jit_compile)
    def forward_backward():
        step.assign_add(1)
        with tf.GradientTape() as tape:
            code = ops.ensemble_gumbel_softmax(logits, 7, temperature, seed=0, step=step)
            loss = tf.reduce_sum(code * tf.range(8, dtype=tf.float32))
        return tape.gradient(loss, logits)

    return forward, forward_backward


def separable_conv_steps():
    images = tf.random.normal([32, 32, 32, 16])
    unit = keras.Sequential([
        keras.layers.ReLU(),
        keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False),
        keras.layers.Conv2D(16, 1, use_bias=False),
        keras.layers.BatchNormalization(),
    ])
    unit(images)

    @tf.function
    def forward():
        return unit(images, training=True)

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(unit(images, training=True))
        return tape.gradient(loss, unit.trainable_variables)

    return forward, forward_backward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="Timed calls per case.")
    args = parser.parse_args()

    conv_forward, conv_backward = separable_conv_steps()
    rows = []
    for label, function in [
        ("sep_conv_3x3 unit, forward", conv_forward),
        ("sep_conv_3x3 unit, forward+backward", conv_backward),
    ]:
        rows.append((label, *median_ms(function, args.repeats)))
    for jit_compile in (False, True):
        forward, backward = estimator_steps(jit_compile)
        suffix = ", XLA" if jit_compile else ""
        rows.append((f"EGS codes 2x14x8, M=7, forward{suffix}",
                     *median_ms(forward, args.repeats)))
        rows.append((f"EGS codes 2x14x8, M=7, forward+backward{suffix}",
                     *median_ms(backward, args.repeats)))

    conv = {"forward": rows[0][2], "forward+backward": rows[1][2]}
    print(f"{'case':<48} {'first call s':>12} {'median ms':>10} {'/ sep_conv':>10}")
    for label, first, median in rows:
        kind = "forward+backward" if "backward" in label else "forward"
        print(f"{label:<48} {first:>12.3f} {median:>10.3f} {median / conv[kind]:>10.3f}")


if __name__ == "__main__":
    main()
