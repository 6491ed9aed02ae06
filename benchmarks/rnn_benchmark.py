"""Language-model speed on this machine: training tokens per second and time to first step.

One run measures, each in its own process:

* the recurrent search step (joint: forward, backward, both optimizers) of DARTS' search model
  (12-node cell, 300 units by default) with `dense`, `sparse` (with probes) and
  `sparse_biased` execution at M = 4 and M = 1;
* the training step of the evaluation model of the DARTS V2 recurrent cell, next to a
  `keras.layers.LSTM` language model (embedding, LSTM, softmax) of the same hidden size.

Tokens per second = batch × BPTT / median step time. Codes come from the real estimator at
the initial (uniform) α, as at the start of a search.

    python benchmarks/rnn_benchmark.py [--search_units 300 --eval_units 850 --batch 64
                                        --bptt 35 --vocab 10000 --steps 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from step_timer import step_timer

CONFIGS = [("search", "dense", 4), ("search", "sparse", 4), ("search", "sparse_biased", 4),
           ("search", "dense", 1), ("search", "sparse", 1), ("search", "sparse_biased", 1),
           ("darts_v2", "", 0), ("lstm", "", 0)]


def _model(args):
    import keras

    from egs_keras import search_space
    from egs_keras.layers import EGSRNNCell
    from egs_keras.layers import GenotypeRNNCell
    from egs_keras.models import RecurrentLanguageModel
    from egs_keras.models import RecurrentSearchModel

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.SGD(20.0, global_clipnorm=0.25)
    if args.model == "search":
        cell = EGSRNNCell(args.search_units, num_samples=args.num_samples,
                          execution=args.execution, dropout=0.75, recurrent_dropout=0.25)
        model = RecurrentSearchModel(args.vocab, cell, batch_size=args.batch)
        model.compile(optimizer, loss, arch_optimizer=keras.optimizers.Adam(3e-3),
                      jit_compile=False)
    elif args.model == "darts_v2":
        recurrent = search_space.published_genotype("darts_rnn_v2").cells["recurrent"]
        cell = GenotypeRNNCell(args.eval_units, recurrent.to_dict()["nodes"], recurrent.concat,
                               dropout=0.75, recurrent_dropout=0.25)
        model = RecurrentLanguageModel(args.vocab, cell, batch_size=args.batch)
        model.compile(optimizer, loss, jit_compile=False)
    else:
        model = keras.Sequential([
            keras.Input((None,), batch_size=args.batch, dtype="int32"),
            keras.layers.Embedding(args.vocab, args.eval_units),
            keras.layers.LSTM(args.eval_units, return_sequences=True),
            keras.layers.Dense(args.vocab)])
        model.compile(optimizer, loss, jit_compile=False)
    return model


def measure(args):
    """Runs one configuration in this process and prints a JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tokens = np.random.default_rng(0).integers(0, args.vocab, (args.batch, args.bptt + 1))
    dataset = tf.data.Dataset.from_tensors((tokens[:, :-1], tokens[:, 1:])).repeat()
    start = time.perf_counter()
    model = _model(args)
    built = time.perf_counter() - start
    timer = step_timer()
    model.fit(dataset, steps_per_epoch=args.steps + 1, epochs=1, verbose=0, callbacks=[timer])
    times = timer.times
    step = statistics.median(times[1:])
    print(json.dumps({"model": args.model, "execution": args.execution,
                      "num_samples": args.num_samples, "build_s": built,
                      "first_step_s": times[0], "step_s": step,
                      "tokens_per_s": args.batch * args.bptt / step}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search_units", type=int, default=300)
    parser.add_argument("--eval_units", type=int, default=850)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=5, help="Timed steps after the first.")
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--execution", default="", help=argparse.SUPPRESS)
    parser.add_argument("--num_samples", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model:
        measure(args)
        return
    shared = [f"--search_units={args.search_units}", f"--eval_units={args.eval_units}",
              f"--batch={args.batch}", f"--bptt={args.bptt}", f"--vocab={args.vocab}",
              f"--steps={args.steps}"]
    rows = []
    for model, execution, num_samples in CONFIGS:
        command = [sys.executable, __file__, *shared, f"--model={model}",
                   f"--execution={execution}", f"--num_samples={num_samples}"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(f"done: {model} {execution} {num_samples or ''}", file=sys.stderr, flush=True)
    print(f"language models: batch {args.batch}, BPTT {args.bptt}, vocabulary {args.vocab}; "
          f"search {args.search_units} units, evaluation {args.eval_units} units; median of "
          f"{args.steps} steps")
    print(f"{'model':<28} {'build s':>8} {'first step s':>13} {'s/step':>7} {'tokens/s':>9} "
          f"{'ratio':>6}")
    baselines = {"search": rows[0]["tokens_per_s"], "darts_v2": rows[-1]["tokens_per_s"],
                 "lstm": rows[-1]["tokens_per_s"]}
    for row in rows:
        label = {"darts_v2": f"DARTS V2 cell, {args.eval_units} units",
                 "lstm": f"keras.layers.LSTM, {args.eval_units} units"}.get(
            row["model"], f"search {row['execution']} M={row['num_samples']}")
        ratio = row["tokens_per_s"] / baselines[row["model"]]
        print(f"{label:<28} {row['build_s']:>8.1f} {row['first_step_s']:>13.1f} "
              f"{row['step_s']:>7.2f} {row['tokens_per_s']:>9.0f} {ratio:>5.2f}x")


if __name__ == "__main__":
    main()
