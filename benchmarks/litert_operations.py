"""What one operation costs in LiteRT, as the "litert" prior measures it, and the forms of the
stride-2 max pool side by side.

Each row: microseconds of one inference of one example (`--shape`, batch 1) in LiteRT's
interpreter with `--threads` threads (median of 100 `invoke` calls, minus an identity's
harness, `measures.measure_litert_latency`), and the seconds to convert it. Every row is
measured `--rounds` times, interleaved with the others; the median over rounds is printed.
Rows:

* each search-space operation, at stride 1 and 2, in the form inference runs
  (`training=False`), the form the prior times;
* the stride-2 max pool padded four ways, all with DARTS' values: the dtype's lowest value
  (training's form), a mirror pad (`tf.pad(mode="SYMMETRIC")`), the border pixels repeated
  by concatenation (inference's form), the input's minimum.

    python benchmarks/litert_operations.py [--shape 16,16,16] [--threads 1] [--rounds 3]
"""

import argparse
import statistics
import time

import tensorflow as tf

from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.layers import operations

_PAD = [[0, 0], [1, 1], [1, 1], [0, 0]]


def _pool(padded):
    return tf.nn.max_pool2d(padded, 3, 2, "VALID")


def _repeated_border(x):
    x = tf.concat([x[:, :1], x, x[:, -1:]], axis=1)
    return _pool(tf.concat([x[:, :, :1], x, x[:, :, -1:]], axis=2))


POOL_FORMS = {
    "max pool, dtype.min pad (training)": lambda x: _pool(tf.pad(x, _PAD,
                                                                  constant_values=x.dtype.min)),
    "max pool, mirror pad": lambda x: _pool(tf.pad(x, _PAD, mode="SYMMETRIC")),
    "max pool, border repeated (inference)": _repeated_border,
    "max pool, input-minimum pad": lambda x: _pool(tf.pad(
        x, _PAD, constant_values=tf.reduce_min(x))),
}


def rows(shape):
    """{row name: function of one float32 input}."""
    functions = {}
    for stride in (1, 2):
        for name in search_space.CNN_PRIMITIVES:
            if name == search_space.NONE:
                continue
            op = operations.get_operation(name, shape[-1], stride, search=False)
            op.build((1, *shape))
            functions[f"{name}, stride {stride}"] = lambda x, op=op: op(x, training=False)
    functions.update(POOL_FORMS)
    return functions


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="16,16,16", help="height,width,channels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split(","))
    functions = rows(shape)
    micros = {name: [] for name in functions}
    seconds = {name: [] for name in functions}
    for _ in range(args.rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            ms = measures.measure_litert_latency(function, (1, *shape), args.threads)
            seconds[name].append(time.perf_counter() - start)
            micros[name].append(1e3 * ms)
    print(f"LiteRT, 1×{'×'.join(map(str, shape))}, {args.threads} thread(s), "
          f"median of {args.rounds} rounds")
    print("| operation | µs per inference | s to convert and time |")
    print("|---|---|---|")
    for name in functions:
        print(f"| {name} | {statistics.median(micros[name]):.2f} | "
              f"{statistics.median(seconds[name]):.2f} |")


if __name__ == "__main__":
    main()
