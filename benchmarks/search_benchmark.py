"""Search-network speed on this machine: time to first step, seconds per step, peak memory.

One run compares `dense` execution with `sparse` at M = 1, 4 and 7 on a DARTS-size search
network (8 cells, 16 filters, 32×32×3 inputs, batch 32 by default), each configuration in its
own process so that peak memory and tracing are measured in isolation. A step is one
`model.fit` step of the joint search (forward, backward, both optimizers). Architecture codes
come from the real estimator at the initial (uniform) α, so sparse steps run what a search
would run at its start; as α sharpens, fewer operations are active.

    python benchmarks/search_benchmark.py [--cells 8 --filters 16 --batch 32 --steps 6]
                                          [--no_grappler]

With `--replicas`, it compares instead one replica with `MirroredStrategy` over 2 logical CPU
devices (dense execution, M = 7, the same global batch): search-step throughput under
`tf.distribute` on a machine without GPUs.

    python benchmarks/search_benchmark.py --replicas
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from step_timer import step_timer

CONFIGS = [("dense", 7), ("sparse", 1), ("sparse", 4), ("sparse", 7)]
REPLICA_CONFIGS = [("dense", 7, 1), ("dense", 7, 2)]


def measure(args):
    """Runs one configuration in this process and prints a JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from egs_keras.models import EGSSearchNetwork
    from egs_keras.training import strategies

    strategies.use_cpu_replicas(args.num_replicas)
    strategy = strategies.get_strategy("mirrored" if args.num_replicas > 1 else "default")
    if args.no_grappler:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})

    size = args.size
    images = np.random.default_rng(0).normal(size=(args.batch, size, size, 3)).astype("float32")
    labels = np.arange(args.batch) % 10
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    start = time.perf_counter()
    with strategy.scope():
        model = EGSSearchNetwork(10, (size, size, 3), filters=args.filters,
                                 num_cells=args.cells, num_samples=args.num_samples,
                                 execution=args.execution)
        model.compile(keras.optimizers.SGD(0.025, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=False)
    built = time.perf_counter() - start
    timer = step_timer()
    model.fit(dataset, steps_per_epoch=args.steps + 1, epochs=1, verbose=0, callbacks=[timer])
    times = timer.times
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"execution": args.execution, "num_samples": args.num_samples,
                      "replicas": strategy.num_replicas_in_sync,
                      "build_s": built, "first_step_s": times[0],
                      "step_s": statistics.median(times[1:]), "peak_gb": peak_gb}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6, help="Timed steps after the first.")
    parser.add_argument("--no_grappler", action="store_true",
                        help="Switch TensorFlow's Grappler graph optimiser off.")
    parser.add_argument("--replicas", action="store_true",
                        help="Compare 1 replica with 2 mirrored logical-CPU replicas.")
    parser.add_argument("--execution", help=argparse.SUPPRESS)
    parser.add_argument("--num_samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--num_replicas", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.execution:
        measure(args)
        return
    configs = REPLICA_CONFIGS if args.replicas else [(e, m, 1) for e, m in CONFIGS]
    rows = []
    for execution, num_samples, replicas in configs:
        command = [sys.executable, __file__, f"--cells={args.cells}", f"--filters={args.filters}",
                   f"--size={args.size}", f"--batch={args.batch}", f"--steps={args.steps}",
                   f"--execution={execution}", f"--num_samples={num_samples}",
                   f"--num_replicas={replicas}"]
        command += ["--no_grappler"] if args.no_grappler else []
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(f"done: {execution} M={num_samples} replicas={replicas}", file=sys.stderr,
              flush=True)
    first = rows[0]["step_s"]
    print(f"search network: {args.cells} cells, {args.filters} filters, {args.size}x{args.size}, "
          f"global batch {args.batch}; median of {args.steps} steps"
          + ("; Grappler off" if args.no_grappler else ""))
    print(f"{'configuration':<22} {'build s':>8} {'first step s':>13} {'s/step':>8} "
          f"{'speed-up':>9} {'peak GB':>8}")
    for row in rows:
        label = "dense" if row["execution"] == "dense" else f"sparse M={row['num_samples']}"
        if args.replicas:
            label = f"{label} M={row['num_samples']}, {row['replicas']} replica(s)"
        print(f"{label:<22} {row['build_s']:>8.1f} {row['first_step_s']:>13.1f} "
              f"{row['step_s']:>8.2f} {first / row['step_s']:>8.2f}x {row['peak_gb']:>8.2f}")

if __name__ == "__main__":
    main()
