"""Search-network speed on this machine: time to the first step (build, trace, first run),
seconds per step and peak memory, for our executions and, given by path, the PyTorch peers.

One run compares, each configuration in its own process (so that tracing and peak memory are
measured in isolation), on a DARTS-size search network (8 cells, 16 filters, 32×32×3 inputs,
batch 32 by default):

* `dense` (M = 7: every operation computed, the paper's gradient), `sparse` at M = 1, 4 and 7
  (the active operations and probes of the others at `--probe_rate`: an unbiased estimate of
  dense's α-gradient) and `sparse_biased` (the active operations only, GDAS-like), joint
  search (the paper: one pass updates weights and α); `bilevel` at M = 4 (sparse; DARTS'
  first order: an α pass on a validation batch, then a weights pass, as the peers' step);
* with `--torch_python` and the peers' checkouts (`--darts`, `--egs`, `--gdas`), their own
  model code's first-order search step (`peer_search_step.py`: α step + weight step),
  measured the same way: same network, batch, threads, warm-up and median.

A step is what `model.fit` runs per batch (Keras' train function on the data iterator).
Architecture codes come from the real estimator at the initial (uniform) α, so sparse steps
run what a search would run at its start; as α sharpens, fewer operations are active.
"build" = constructing and compiling the model; "trace" = building the step's graph in
Python; "first run" = the first call (graph set-up and kernels' first use, then the step).
Grappler (TensorFlow's graph optimiser) is off with `--no_grappler`, as the sparse search
configs run. `--configs` picks rows, e.g. `dense,dense+xla,sparse:4,eval+mixed` (`+xla`:
XLA, not for sparse; `+mixed`: mixed float16; `eval`: the evaluation network of DARTS V2's
genotype with `--eval_cells` cells of `--eval_filters` filters and batch `--eval_batch`,
auxiliary head on, one training step of `model.fit`).

Each row is measured in `--processes` separate processes (default 3); the table gives the
median of each figure over them.

    python benchmarks/search_benchmark.py --no_grappler \\
        [--torch_python ~/torch/bin/python --darts ~/src/darts --egs ~/src/DATA-NAS \\
         --gdas ~/src/AutoDL-Projects]

With `--replicas`, it compares instead one replica with `MirroredStrategy` over 2 logical
CPU devices (dense execution, M = 7, the same global batch).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIGS = ("dense,sparse:1,sparse:4,sparse:7,sparse_biased:1,sparse_biased:4,"
                   "sparse_biased:7,bilevel:4")
KINDS = ("dense", "sparse", "sparse_biased", "bilevel", "eval")
REPLICA_CONFIGS = "dense@1,dense@2"
PEERS = {"darts": "DARTS (first-order search step)",
         "egs": "official EGS code, M = {m} (first-order step)",
         "gdas": "GDAS (search step)"}


def parse_config(text):
    """"sparse:4+mixed@2" → dict(execution, num_samples, search_mode, xla, mixed, grappler,
    replicas); "+grappler" runs that row with Grappler on under --no_grappler, so that both
    settings compare side by side in one run."""
    text, _, replicas = text.partition("@")
    text, *flags = text.split("+")
    kind, _, samples = text.partition(":")
    if kind not in KINDS or set(flags) - {"xla", "mixed", "grappler"}:
        raise SystemExit(f"Unknown configuration {text!r}: expected dense, sparse:M, "
                         "sparse_biased:M, bilevel:M or eval, optionally +xla, +mixed and "
                         "+grappler, @replicas.")
    return {"execution": "sparse" if kind == "bilevel" else kind,
            "num_samples": int(samples or 7), "search_mode": "bilevel"
            if kind == "bilevel" else "joint", "xla": "xla" in flags,
            "mixed": "mixed" in flags, "grappler": "grappler" in flags,
            "replicas": int(replicas or 1)}


def label(config, args):
    if config["execution"] == "eval":
        name = (f"evaluation network ({args.eval_cells} cells, {args.eval_filters} filters, "
                f"batch {args.eval_batch})")
    else:
        name = ("dense" if config["execution"] == "dense"
                else f"{config['execution']} M={config['num_samples']}")
        if config["execution"] == "sparse":
            name += f" (probes {args.probe_rate:g})"
        name += ", bilevel" if config["search_mode"] == "bilevel" else ", joint"
    name += " +XLA" if config["xla"] else ""
    name += " +mixed" if config["mixed"] else ""
    name += ", Grappler on" if config["grappler"] else ""
    if config["replicas"] > 1:
        name += f", {config['replicas']} replicas"
    return name


def measure(args):
    """Runs one configuration in this process and prints a JSON line."""
    config = parse_config(args.config)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from egs_keras.models import EGSSearchNetwork
    from egs_keras.models import EvaluationNetwork
    from egs_keras.training import strategies

    strategies.use_cpu_replicas(config["replicas"])
    strategy = strategies.get_strategy("mirrored" if config["replicas"] > 1 else "default")
    if args.no_grappler and not config["grappler"]:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    if config["mixed"]:
        keras.mixed_precision.set_global_policy("mixed_float16")

    size, batch_size = args.size, args.eval_batch if config["execution"] == "eval" else args.batch
    images = np.random.default_rng(0).normal(size=(batch_size, size, size, 3)).astype("float32")
    batch = (images, np.arange(batch_size) % 10)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    if config["search_mode"] == "bilevel":
        dataset = tf.data.Dataset.zip((dataset, dataset))
    start = time.perf_counter()
    with strategy.scope():
        if config["execution"] == "eval":
            model = EvaluationNetwork("darts_v2", 10, (size, size, 3), args.eval_filters,
                                      args.eval_cells)
        else:
            model = EGSSearchNetwork(10, (size, size, 3), filters=args.filters,
                                     num_cells=args.cells, num_samples=config["num_samples"],
                                     execution=config["execution"],
                                     search_mode=config["search_mode"],
                                     probe_rate=args.probe_rate)
        model.compile(keras.optimizers.SGD(0.025, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=config["xla"])
    built = time.perf_counter() - start
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    model.make_train_function()
    start = time.perf_counter()
    compiled = getattr(model.train_function, "on_iterator", None)
    if compiled is not None:  # one-level step function: its trace can be timed alone
        compiled.get_concrete_function(iterator)
    traced = time.perf_counter() - start
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        logs = model.train_function(iterator)
        float(logs["loss"])  # wait for the step
        times.append(time.perf_counter() - start)
    print(json.dumps({**config, "build_s": built, "trace_s": traced,
                      "first_run_s": times[0], "step_s": statistics.median(times[1:]),
                      "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))


def run_row(command, name, processes=1):
    """The JSON row measuring processes print (the median of each figure over `processes`
    runs), or None (and its error) if one failed: one failing configuration (e.g. XLA
    without a GPU kernel) leaves the rest of the table."""
    rows = []
    for _ in range(processes):
        result = subprocess.run(command, capture_output=True, text=True)
        lines = result.stdout.strip().splitlines()
        if result.returncode or not lines:
            error = result.stderr.strip().splitlines()[-3:]
            print(f"failed: {name}: " + " | ".join(error), file=sys.stderr, flush=True)
            return None
        rows.append(json.loads(lines[-1]))
    print(f"done: {name}", file=sys.stderr, flush=True)
    median = {key: statistics.median(row[key] for row in rows)
              for key, value in rows[0].items() if isinstance(value, float)}
    return {**rows[0], **median, "label": name}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            lines = cpuinfo.read().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in lines
                  if line.startswith("flags")), [])
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {vector}"


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6, help="Timed steps after the first.")
    parser.add_argument("--eval_cells", type=int, default=20)
    parser.add_argument("--eval_filters", type=int, default=36)
    parser.add_argument("--eval_batch", type=int, default=96)
    parser.add_argument("--probe_rate", type=float, default=0.25,
                        help="Probe rate of the sparse rows.")
    parser.add_argument("--processes", type=int, default=3,
                        help="Processes per row; the table gives the medians.")
    parser.add_argument("--no_grappler", action="store_true",
                        help="Switch TensorFlow's Grappler graph optimiser off.")
    parser.add_argument("--configs", default=None,
                        help=f"Comma-separated rows (default {DEFAULT_CONFIGS}).")
    parser.add_argument("--replicas", action="store_true",
                        help="Compare 1 replica with 2 mirrored logical-CPU replicas.")
    parser.add_argument("--torch_python", help="Python of an environment with PyTorch.")
    for peer in PEERS:
        parser.add_argument(f"--{peer}", help=f"Checkout of the {peer} repository.")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        measure(args)
        return
    configs = args.configs or (REPLICA_CONFIGS if args.replicas else DEFAULT_CONFIGS)
    rows = []
    for text in configs.split(","):
        config = parse_config(text)
        command = [sys.executable, os.path.abspath(__file__), f"--cells={args.cells}",
                   f"--filters={args.filters}", f"--size={args.size}",
                   f"--batch={args.batch}", f"--steps={args.steps}", f"--config={text}",
                   f"--eval_cells={args.eval_cells}", f"--eval_filters={args.eval_filters}",
                   f"--eval_batch={args.eval_batch}", f"--probe_rate={args.probe_rate}"]
        command += ["--no_grappler"] if args.no_grappler else []
        row = run_row(command, label(config, args), args.processes)
        if row:
            rows.append(row)
    peers = {peer: getattr(args, peer) for peer in PEERS if getattr(args, peer)}
    if peers and not args.torch_python:
        raise SystemExit("The peers need --torch_python (a Python with PyTorch).")
    for peer, path in peers.items():
        command = [args.torch_python, os.path.join(HERE, "peer_search_step.py"),
                   f"--peer={peer}", f"--path={path}", f"--cells={args.cells}",
                   f"--filters={args.filters}", f"--size={args.size}", f"--batch={args.batch}",
                   f"--steps={args.steps}", "--num_samples=7"]
        row = run_row(command, PEERS[peer].format(m=7), args.processes)
        if row:
            rows.append({**row, "trace_s": 0.0, "first_run_s": row["first_step_s"]})
    print(f"search network: {args.cells} cells, {args.filters} filters, "
          f"{args.size}x{args.size}, global batch {args.batch}; median of {args.steps} steps, "
          f"median of {args.processes} processes per row"
          + ("; Grappler off unless a row says on" if args.no_grappler else "")
          + f"\nCPU: {cpu_model()}; commit {commit()}")
    print(f"| {'configuration':<44} | build s | trace s | first run s | to first step s "
          f"| s/step | peak GB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        total = row["build_s"] + row["trace_s"] + row["first_run_s"]
        print(f"| {row['label']:<44} | {row['build_s']:.1f} | {row['trace_s']:.1f} "
              f"| {row['first_run_s']:.1f} | {total:.1f} | {row['step_s']:.2f} "
              f"| {row['peak_gb']:.2f} |")


if __name__ == "__main__":
    main()
