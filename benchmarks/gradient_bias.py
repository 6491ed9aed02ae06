"""How far each execution's α-gradient is from the paper's (dense) one, on a search network.

For each M (`--samples`), one search network (`--cells` × `--filters`, digits at `--size`,
λ = 0.5 with the multiply-add prior, so that the numbers do not depend on this machine's
timings) is trained for `--warmup` dense steps; then, with the weights fixed, `--draws`
training steps are replayed in each execution with the very same code (the same sample
number) on the same batch, and their α-gradients compared:

* bias: ‖mean_s (g_mode(s) − g_dense(s))‖ / ‖mean_s g_dense(s)‖, beside its standard error
  (what an unbiased estimate's "bias" is made of at this many draws), and beside the same
  ratio for two halves of the dense draws (how much dense's own estimate moves with the
  codes drawn);
* cosine of the mean gradients;
* extra noise: mean_s ‖g_mode(s) − g_dense(s)‖² / mean_s ‖g_dense(s)‖² (0 for dense).

    python benchmarks/gradient_bias.py [--samples 1,4,7] [--draws 200]
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

MODES = ("dense", "sparse", "sparse_biased")


def measure(num_samples, args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from egs_keras import search_space  # noqa: PLC0415
    from egs_keras.costs import edge_tables  # noqa: PLC0415
    from egs_keras.data import image_datasets  # noqa: PLC0415
    from egs_keras.models import EGSSearchNetwork  # noqa: PLC0415

    spec = image_datasets.get_dataset("egs_digits")
    examples = image_datasets.load_examples("egs_digits", "train[:50%]",
                                            data_dir=args.data_dir or None)
    batches, _ = image_datasets.training_batches(examples, spec, args.size, args.batch, 0, 1)
    batch = next(iter(batches))
    shape = (args.size, args.size, 1)
    costs = edge_tables.cnn_edge_costs(
        search_space.CNN_PRIMITIVES, "multiply_adds", image_shape=shape,
        filters=args.filters, num_cells=args.cells, num_nodes=7, batch_size=args.batch)
    costs = {k: v.tolist() for k, v in costs.items()}
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    models = {}
    for mode in MODES:
        keras.utils.set_random_seed(0)
        models[mode] = EGSSearchNetwork(10, shape, args.filters, args.cells,
                                        num_samples=num_samples, op_costs=costs,
                                        execution=mode, probe_rate=args.probe_rate, seed=0)
    dense = models["dense"]
    dense.compile(keras.optimizers.SGD(0.025, momentum=0.9), loss=loss,
                  arch_optimizer=keras.optimizers.Adam(0.01))
    dense.fit(batches.repeat(), steps_per_epoch=args.warmup, epochs=1, verbose=0)
    for mode in ("sparse", "sparse_biased"):
        models[mode].set_weights(dense.get_weights())

    def step_function(model):
        @tf.function
        def gradient(images, labels, step):
            for decision in model.decisions.values():
                decision.sample_count.assign(step)
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                value = loss(labels, logits)
            return tape.gradient(value, model.arch_variables)
        return gradient

    functions = {mode: step_function(model) for mode, model in models.items()}
    draws = {mode: [] for mode in MODES}
    for s in range(args.draws):
        step = tf.constant(1000 + s, tf.int64)
        for mode, function in functions.items():
            grads = function(batch[0], batch[1], step)
            draws[mode].append(np.concatenate([g.numpy().ravel() for g in grads]))
    draws = {mode: np.stack(values) for mode, values in draws.items()}
    reference = draws["dense"].mean(0)
    half = len(draws["dense"]) // 2
    floor = np.linalg.norm(draws["dense"][:half].mean(0) - draws["dense"][half:].mean(0))
    row = {"num_samples": num_samples,
           "noise_floor": float(floor / np.linalg.norm(reference))}
    scale = np.linalg.norm(reference)
    for mode in MODES:
        mean = draws[mode].mean(0)
        paired = draws[mode] - draws["dense"]
        row[mode] = {
            "bias": float(np.linalg.norm(paired.mean(0)) / scale),
            "standard_error": float(np.sqrt(np.sum(paired.var(0, ddof=1)) / len(paired))
                                    / scale),
            "cosine": float(mean @ reference / np.linalg.norm(mean) / np.linalg.norm(reference)),
            "extra_noise": float(np.mean(np.sum((draws[mode] - draws["dense"]) ** 2, -1))
                                 / np.mean(np.sum(draws["dense"] ** 2, -1))),
        }
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", default="1,4,7")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--probe_rate", type=float, default=0.25)
    parser.add_argument("--data_dir", default="")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args)))
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=os.path.dirname(__file__)).stdout.strip()
    print(f"{args.cells} cells × {args.filters} filters, digits {args.size}×{args.size}, "
          f"batch {args.batch}, {args.warmup} dense warm-up steps, {args.draws} draws, "
          f"probe rate {args.probe_rate}; commit {commit}")
    print("| M | execution | bias of the mean α-gradient (± standard error) | cosine to dense's "
          "| extra noise | dense's own half-to-half difference |")
    print("|---|---|---|---|---|---|")
    for m in args.samples.split(","):
        command = [sys.executable, os.path.abspath(__file__), f"--one={m}", f"--draws={args.draws}",
                   f"--warmup={args.warmup}", f"--cells={args.cells}",
                   f"--filters={args.filters}", f"--size={args.size}", f"--batch={args.batch}",
                   f"--probe_rate={args.probe_rate}", f"--data_dir={args.data_dir}"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        row = json.loads(output.strip().splitlines()[-1])
        for mode in MODES:
            r = row[mode]
            print(f"| {m} | {mode} | {r['bias']:.3f} ± {r['standard_error']:.3f} | "
                  f"{r['cosine']:.3f} | "
                  f"{r['extra_noise']:.2f} | {row['noise_floor']:.3f} |")


if __name__ == "__main__":
    main()
