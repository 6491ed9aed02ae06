"""The paper's recipe on a full-size search network, per M: what it derives, how large the
derived cells make the paper's CIFAR-10 evaluation network, how well they retrain.

For each M it runs, as a user would, in `<workdir>/m<M>/`:

    egs-pipeline --config=configs/digits_paper_search.py --config.search.num_samples=M
        (search: 8 cells × 16 filters, 7-node cells, 50 epochs, joint, sparse, latency prior
         at λ = 0.5, coupled weight decay, two edges per node; then 30 epochs of a digits
         evaluation network, test accuracy, SavedModel)
    egs-count --config=configs/cifar10_eval.py --genotype=<the derived genotype>
        (parameters of the 20-cell × 36-filter CIFAR-10 evaluation network)

and prints a Markdown table: the derived cells' operations, parameters (also with every edge
of the DAG kept, from the same final α), digits test accuracy, search and training time, the
search's peak memory. A finished M is not run again.

    python benchmarks/recipe_study.py --workdir=runs/recipe_study [--samples 1,4,7]
"""

import argparse
import collections
import csv
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(command, log):
    """Runs `command` from the repository root; returns (seconds, peak RSS in GB)."""
    start = time.perf_counter()
    with open(log, "a", encoding="utf-8") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                        "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(process.pid, 0)
    if status:
        sys.exit(f"{' '.join(command)} failed; see {log}")
    return time.perf_counter() - start, usage.ru_maxrss / 2**20  # kB on Linux


def study(workdir, num_samples, data_dir):
    folder = workdir / f"m{num_samples}"
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "study.json"
    if record.exists():
        return json.loads(record.read_text())
    log = folder / "log.txt"
    flags = [f"--config.search.num_samples={num_samples}", f"--config.data.data_dir={data_dir}"]
    search_seconds, search_gb = run(
        [sys.executable, "-m", "trainers.search", "--config=configs/digits_paper_search.py",
         f"--workdir={folder / 'run' / 'search'}", *flags], log)
    total_seconds, _ = run(
        [sys.executable, "-m", "trainers.pipeline", "--config=configs/digits_paper_search.py",
         f"--workdir={folder / 'run'}", *flags], log)
    genotype = folder / "run" / "search" / "genotype.json"
    count = subprocess.run(
        [sys.executable, "-m", "trainers.count", "--config=configs/cifar10_eval.py",
         f"--genotype={genotype}"], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)})
    summary = json.loads((folder / "run" / "summary.json").read_text())
    with open(folder / "run" / "search" / "history.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    result = {
        "num_samples": num_samples,
        "genotype": json.loads(genotype.read_text()),
        "cifar10_parameters": json.loads(count.stdout)["parameters"],
        "digits_test_accuracy": summary["test_accuracy"],
        "digits_parameters": summary["parameters"],
        "search_seconds": round(search_seconds),
        "training_seconds": round(total_seconds),
        "search_peak_gb": round(search_gb, 2),
        "last_search_epoch": {k: float(v) for k, v in last.items()},
    }
    record.write_text(json.dumps(result, indent=2) + "\n")
    return result


WHOLE_DAG = """
import json, sys
import numpy as np
import tensorflow as tf
from configs import cifar10_eval, digits_paper_search
from egs_keras import search_space
from egs_keras.ops import cost_prior, log_probabilities
from egs_keras import runs
from egs_keras.runs import classification

folder, num_samples = sys.argv[1], int(sys.argv[2])
config = digits_paper_search.get_config()
config.search.num_samples = num_samples
costs = classification.op_costs_of(config, folder)   # the run's latency table, read back
reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(folder + "/checkpoints"))
alphas = {cell: reader.get_tensor(f"model_variables/{cell}_alphas.Slogits/.ATTRIBUTES/"
                                  "VARIABLE_VALUE") for cell in ("normal", "reduce")}
counts = {"largest_alpha": float(max(np.abs(a).max() for a in alphas.values()))}
# How far each term of p = λ·softmax(α) + (1 − λ)·l spreads its operations on an edge.
weight = config.search.effectiveness_weight
def spread(q):
    return float(np.mean(np.ptp(q, axis=1)))
counts["alpha_spread"] = np.mean([spread(weight * tf.nn.softmax(a).numpy())
                                  for a in alphas.values()])
counts["prior_spread"] = np.mean([spread((1 - weight) * cost_prior(costs[cell]).numpy())
                                  for cell in alphas])
for edges, weight in ((None, weight), (2, weight), (2, 1.0)):
    probs = {cell: np.exp(log_probabilities(a, cost_prior(costs[cell]), weight).numpy())
             for cell, a in alphas.items()}
    genotype = search_space.derive_genotype(probs, num_samples, edges_per_node=edges)
    counts[f"{edges}, {weight}"] = runs.count_network(
        cifar10_eval.get_config(), genotype)["parameters"]
print(json.dumps(counts))
"""


def diagnostics(workdir, num_samples):
    """From the search's final α: its largest |entry|; how far apart λ·softmax(α) and
    (1 − λ)·l put an edge's most and least probable operations (mean over edges); the CIFAR-10
    evaluation-network parameters of the genotype derived with every edge kept ("None, 0.5"),
    with two per node ("2, 0.5": the run's own, a check) and without the prior (λ = 1:
    "2, 1.0")."""
    output = subprocess.run(
        [sys.executable, "-c", WHOLE_DAG, str(workdir / f"m{num_samples}" / "run" / "search"),
         str(num_samples)], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}).stdout
    return json.loads(output.strip().splitlines()[-1])


def operations(cell):
    counts = collections.Counter(op for node in cell["nodes"] for op, _ in node)
    return ", ".join(f"{n}× {op}" if n > 1 else op for op, n in sorted(counts.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="runs/recipe_study")
    parser.add_argument("--samples", default="1,4,7", help="comma-separated values of M")
    parser.add_argument("--data_dir", default="", help="TFDS directory (default: in workdir)")
    args = parser.parse_args()
    workdir = pathlib.Path(args.workdir).resolve()
    data_dir = args.data_dir or str(workdir / "tfds")
    rows = [study(workdir, int(m), data_dir) for m in args.samples.split(",")]
    print("| M | normal cell | reduction cell | CIFAR-10 net (20 × 36) parameters | the same "
          "α, every edge kept | digits test accuracy | search min | retraining + export min "
          "| search peak GB |")
    print("|---|---|---|---|---|---|---|---|---|")
    extra = []
    for row in rows:
        cells = row["genotype"]["cells"]
        whole = diagnostics(workdir, row["num_samples"])
        assert whole["2, 0.5"] == row["cifar10_parameters"]  # the run's own derivation, again
        extra.append((row["num_samples"], whole))
        print(f"| {row['num_samples']} | {operations(cells['normal'])} | "
              f"{operations(cells['reduce'])} | {row['cifar10_parameters'] / 1e6:.2f}M | "
              f"{whole['None, 0.5'] / 1e6:.2f}M | {100 * row['digits_test_accuracy']:.1f} % | "
              f"{row['search_seconds'] / 60:.0f} | {row['training_seconds'] / 60:.0f} | "
              f"{row['search_peak_gb']} |")
    print("\n| M | largest \\|α\\| after the search | spread of λ·softmax(α) on an edge | "
          "spread of (1 − λ)·l | CIFAR-10 parameters, the same α without the prior (λ = 1), "
          "2 edges per node |")
    print("|---|---|---|---|---|")
    for num_samples, whole in extra:
        print(f"| {num_samples} | {whole['largest_alpha']:.2f} | {whole['alpha_spread']:.3f} | "
              f"{whole['prior_spread']:.3f} | {whole['2, 1.0'] / 1e6:.2f}M |")


if __name__ == "__main__":
    main()
