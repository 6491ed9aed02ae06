"""Does the search, not its cost table, choose the architecture? Evidence at equal budget.

One command runs, in `<workdir>`, on the paper's search network on the bundled digits at
32×32 (`configs/digits_paper_search.py`: 8 cells × 16 filters, 7-node cells, 50 epochs,
joint, the latency prior at λ = 0.5, coupled weight decay, two edges per node):

1. a search per M (`--samples`, default 1, 4, 7) with the config's execution and the
   paper's derivation (`--derive`, default sample_and_validate), each in its own process,
   all with one latency table (`<workdir>/latency.json`, timed by the first search: the
   same prior for every M);
2. per M, from the search's own latency table and final α: the cells the prior alone
   derives (same table, α = 0, so p = λ/K + (1 − λ)·l; edges tied, drawn by the seed), the
   share of derived (cell, node, operation, input) entries that differ from them, the
   size of the paper's CIFAR-10 evaluation network (20 cells × 36 filters) on each, and how
   far α moved (largest |α|, the spread of λ·softmax(α) against that of (1 − λ)·l);
3. for `--retrain_samples` (default M = 4): the searched cells (the chosen and, if it
   differs, the most probable), the prior-alone cells and `--random` random genotypes with
   two edges per node, each retrained with the same budget (`--train_cells` ×
   `--train_filters`, `--train_epochs` epochs) for every seed of `--seeds`: digits test
   accuracy (mean ± sd), parameters, and inference latency of the retraining network
   measured side by side in one process; an accuracy–latency plot (`evidence_m<M>.png`);
4. the prior's strength β (`prior_strength`): the cells derived from the same final α
   under several β, against the prior-alone cells of each β.

Finished parts are not run again. Results: `<workdir>/evidence.json` and Markdown tables
on standard output (docs/recipe.md holds them with the command and commit).

    python benchmarks/search_evidence.py --workdir=runs/evidence
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # configs/ and egs_keras/ from this checkout
CONFIG = "configs/digits_paper_search.py"
STRENGTHS = (0.0, 0.5, 1.0, 2.0, 4.0)


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}


def run(command, log):
    """Runs `command` from the repository root; returns (seconds, peak RSS in GB)."""
    start = time.perf_counter()
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(map(str, command))}\n")
        out.flush()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env=_env())
        _, status, usage = os.wait4(process.pid, 0)
    if status:
        sys.exit(f"{' '.join(map(str, command))} failed; see {log}")
    return time.perf_counter() - start, usage.ru_maxrss / 2**20  # kB on Linux


def search(workdir, num_samples, args):
    """Runs (or finds) the search for M; returns its record."""
    folder = workdir / f"m{num_samples}"
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "search.json"
    if record.exists():
        return json.loads(record.read_text())
    seconds, peak = run([sys.executable, "-m", "trainers.search", f"--config={CONFIG}",
                         f"--workdir={folder / 'search'}",
                         f"--config.search.num_samples={num_samples}",
                         f"--config.search.derive={args.derive}",
                         f"--config.search.latency_table={workdir / 'latency.json'}",
                         *([f"--config.search.epochs={args.search_epochs}"]
                           if args.search_epochs else []),
                         f"--config.data.data_dir={args.data_dir}"], folder / "log.txt")
    result = {"num_samples": num_samples, "search_seconds": round(seconds),
              "search_peak_gb": round(peak, 2)}
    record.write_text(json.dumps(result, indent=2) + "\n")
    return result


def config_for(num_samples, args):
    from configs import digits_paper_search  # noqa: PLC0415

    config = digits_paper_search.get_config()
    config.search.num_samples = num_samples
    config.search.derive = args.derive
    config.search.epochs = args.search_epochs or config.search.epochs
    config.search.latency_table = str(pathlib.Path(args.workdir).resolve() / "latency.json")
    config.data.data_dir = args.data_dir
    return config


def final_alphas(search_dir):
    import tensorflow as tf  # noqa: PLC0415

    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(search_dir / "checkpoints")))
    return {cell: reader.get_tensor(f"model_variables/{cell}_alphas.Slogits/.ATTRIBUTES/"
                                    "VARIABLE_VALUE") for cell in ("normal", "reduce")}


def derive(alphas, costs, config, strength=None, zero_alpha=False):
    """The genotype `derive_genotype` gives from α (or α = 0) and the run's cost tables, with
    the search's own λ, β, M, edges per node and seed (most probable codes)."""
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from egs_keras import search_space  # noqa: PLC0415
    from egs_keras.ops import cost_prior  # noqa: PLC0415
    from egs_keras.ops import log_probabilities  # noqa: PLC0415

    search = config.search
    strength = search.prior_strength if strength is None else strength
    probs, preferences = {}, {}
    for cell, alpha in alphas.items():
        alpha = np.zeros_like(alpha) if zero_alpha else alpha
        prior = cost_prior(costs[cell], strength=strength, neutral_ops=[0])
        probs[cell] = np.exp(log_probabilities(alpha, prior, search.effectiveness_weight))
        preferences[cell] = tf.nn.softmax(alpha).numpy()
    return search_space.derive_genotype(
        probs, search.num_samples, edges_per_node=search.edges_per_node or None,
        seed=config.seed, preferences=preferences)


def operations(cell):
    counts = {}
    for node in cell.nodes:
        for op, _ in node:
            counts[op] = counts.get(op, 0) + 1
    return ", ".join(f"{n}× {op}" if n > 1 else op for op, n in sorted(counts.items()))


def depth(cell):
    """How many of a cell's (operation, input) pairs read an intermediate node."""
    return sum(i >= cell.num_inputs for node in cell.nodes for _, i in node)


def analyse(workdir, num_samples, args):
    """The step-2 record of M (see the module doc)."""
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from configs import cifar10_eval  # noqa: PLC0415
    from egs_keras import runs  # noqa: PLC0415
    from egs_keras import search_space  # noqa: PLC0415
    from egs_keras.ops import cost_prior  # noqa: PLC0415
    from egs_keras.runs import classification  # noqa: PLC0415

    folder = workdir / f"m{num_samples}"
    search_dir = folder / "search"
    config = config_for(num_samples, args)
    costs = classification.op_costs_of(config, search_dir)  # read back, not timed again
    alphas = final_alphas(search_dir)
    chosen = search_space.Genotype.load(search_dir / "genotype.json")
    candidates_file = search_dir / "candidates.json"
    candidates = json.loads(candidates_file.read_text()) if candidates_file.exists() else None
    most_probable = derive(alphas, costs, config)
    if candidates is not None:  # this replication of the derivation is the search's own
        assert search_space.Genotype.from_dict(
            candidates["candidates"][0]["genotype"]) == most_probable
    prior_alone = derive(alphas, costs, config, zero_alpha=True)
    for name, genotype in (("chosen", chosen), ("most_probable", most_probable),
                           ("prior_alone", prior_alone)):
        genotype.save(folder / f"{name}.json")
    weight = config.search.effectiveness_weight
    eval_config = cifar10_eval.get_config()

    def spread(rows):
        return float(np.mean(np.ptp(rows, axis=-1)))

    result = {
        "num_samples": num_samples,
        "chosen": chosen.to_dict(), "most_probable": most_probable.to_dict(),
        "prior_alone": prior_alone.to_dict(),
        "chosen_is_most_probable": chosen == most_probable,
        "differing_chosen": search_space.differing_pairs(chosen, prior_alone),
        "differing_most_probable": search_space.differing_pairs(most_probable, prior_alone),
        "depth": {name: {c: depth(g.cells[c]) for c in g.cells}
                  for name, g in (("chosen", chosen), ("prior_alone", prior_alone))},
        "cifar10_parameters": {
            name: runs.count_network(eval_config, g)["parameters"]
            for name, g in (("chosen", chosen), ("most_probable", most_probable),
                            ("prior_alone", prior_alone))},
        "largest_alpha": float(max(np.abs(a).max() for a in alphas.values())),
        "alpha_spread": float(np.mean([spread(weight * tf.nn.softmax(a).numpy())
                                       for a in alphas.values()])),
        "prior_spread": float(np.mean([
            spread((1 - weight) * cost_prior(costs[c], neutral_ops=[0]).numpy())
            for c in alphas])),
        "candidates": None if candidates is None else [
            {"strategy": c["strategy"], "scores": c["scores"]}
            for c in candidates["candidates"]],
        "chosen_index": None if candidates is None else candidates["chosen"],
    }
    if num_samples in args.retrain:
        result["strengths"] = strength_table(alphas, costs, config, eval_config, most_probable)
    return result


def strength_table(alphas, costs, config, eval_config, default):
    from egs_keras import runs  # noqa: PLC0415
    from egs_keras import search_space  # noqa: PLC0415

    rows = []
    for strength in STRENGTHS:
        genotype = derive(alphas, costs, config, strength=strength)
        alone = derive(alphas, costs, config, strength=strength, zero_alpha=True)
        free = sum(op in ("max_pool_3x3", "avg_pool_3x3", "skip_connect")
                   for node in genotype.cells["normal"].nodes for op, _ in node)
        total = sum(len(node) for node in genotype.cells["normal"].nodes)
        rows.append({"strength": strength,
                     "differing_from_prior_alone": search_space.differing_pairs(genotype, alone),
                     "differing_from_default": search_space.differing_pairs(genotype, default),
                     "parameter_free_share_normal": free / total,
                     "normal": operations(genotype.cells["normal"]),
                     "cifar10_parameters": runs.count_network(eval_config,
                                                              genotype)["parameters"]})
    return rows


def retrain(workdir, num_samples, analysis, args):
    """Step 3: {genotype name: {"runs": [results per seed], ...}}."""
    from egs_keras import search_space  # noqa: PLC0415

    folder = workdir / f"m{num_samples}"
    names = ["chosen"]
    if not analysis["chosen_is_most_probable"]:
        names.append("most_probable")
    names.append("prior_alone")
    for r in range(args.random):
        name = f"random_{r}"
        path = folder / f"{name}.json"
        if not path.exists():
            search_space.random_genotype(num_samples, edges_per_node=2, seed=r,
                                         name=name).save(path)
        names.append(name)
    results = {}
    for name in names:
        results[name] = []
        for seed in args.seeds:
            run_dir = folder / "retrain" / name / f"seed{seed}"
            results_file = run_dir / "results.json"
            if not results_file.exists():
                run([sys.executable, "-m", "trainers.train", f"--config={CONFIG}",
                     f"--workdir={run_dir}", f"--genotype={folder / (name + '.json')}",
                     f"--config.seed={seed}", f"--config.train.num_cells={args.train_cells}",
                     f"--config.train.filters={args.train_filters}",
                     f"--config.train.epochs={args.train_epochs}",
                     f"--config.data.data_dir={args.data_dir}"], folder / "retrain.log")
            record = json.loads(results_file.read_text())
            results[name].append({"seed": seed, "test_accuracy": record["test_accuracy"],
                                  "parameters": record["parameters"]})
    return results


LATENCY = """
import json, statistics, sys, time
import numpy as np, tensorflow as tf
from egs_keras.models.evaluation_network import EvaluationNetwork
paths, cells, filters, batch = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), 32
models = {name: EvaluationNetwork(path, 10, (32, 32, 1), filters, cells, auxiliary_weight=0.0)
          for name, path in paths.items()}
x = tf.constant(np.random.default_rng(0).normal(size=(batch, 32, 32, 1)), tf.float32)
steps = {name: tf.function(lambda x, m=m: m(x, training=False)) for name, m in models.items()}
for step in steps.values():
    for _ in range(3):
        step(x).numpy()
times = {name: [] for name in steps}
for _ in range(25):  # interleaved rounds: every network sees the same machine load
    for name, step in steps.items():
        start = time.perf_counter()
        step(x).numpy()
        times[name].append(time.perf_counter() - start)
print(json.dumps({name: 1000 * statistics.median(t) for name, t in times.items()}))
"""


def latencies(workdir, num_samples, names, args):
    """Inference ms per batch of 32 of each retraining network, side by side, one process."""
    folder = workdir / f"m{num_samples}"
    paths = {name: str(folder / f"{name}.json") for name in names}
    output = subprocess.run(
        [sys.executable, "-c", LATENCY, json.dumps(paths), str(args.train_cells),
         str(args.train_filters)], cwd=ROOT, capture_output=True, text=True, check=True,
        env=_env()).stdout
    return json.loads(output.strip().splitlines()[-1])


def plot(path, rows, num_samples):
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    labels = {"chosen": ("searched (sample_and_validate)", "C0", "o"),
              "most_probable": ("searched (most probable)", "C2", "s"),
              "prior_alone": ("the prior alone (α = 0)", "C3", "^")}
    figure, axes = plt.subplots(figsize=(6, 4))
    randoms = 0
    for row in rows:
        label, color, marker = labels.get(row["name"], ("random, 2 edges per node", "0.5", "x"))
        if row["name"] not in labels:
            randoms += 1
            label = label if randoms == 1 else None
        axes.errorbar(row["latency_ms"], 100 * row["mean"], yerr=100 * row["sd"],
                      color=color, marker=marker, capsize=3, linestyle="none", label=label)
    axes.set_xlabel("inference latency, ms per batch of 32 (retraining network, this CPU)")
    axes.set_ylabel("digits test accuracy, % (mean ± sd, 3 seeds)")
    axes.set_title(f"M = {num_samples}: searched, prior-alone and random cells")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def cpu_model():
    with open("/proc/cpuinfo") as cpuinfo:
        lines = cpuinfo.read().splitlines()
    name = next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in lines
                  if line.startswith("flags")), [])
    return f"{name}, {os.cpu_count()} cores, {'AVX-512' if 'avx512f' in flags else 'AVX2'}"


def commit():
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="runs/evidence")
    parser.add_argument("--samples", default="1,4,7", help="comma-separated values of M")
    parser.add_argument("--retrain", default="4", help="the Ms whose cells are retrained")
    parser.add_argument("--derive", default="sample_and_validate")
    parser.add_argument("--search_epochs", type=int, default=0,
                        help="0: the config's (50); fewer only to try the script out")
    parser.add_argument("--random", type=int, default=5, help="random genotypes")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--train_cells", type=int, default=5)
    parser.add_argument("--train_filters", type=int, default=12)
    parser.add_argument("--train_epochs", type=int, default=15)
    parser.add_argument("--data_dir", default="", help="TFDS directory (default: in workdir)")
    args = parser.parse_args()
    workdir = pathlib.Path(args.workdir).resolve()
    args.data_dir = args.data_dir or str(workdir / "tfds")
    args.retrain = [int(m) for m in args.retrain.split(",") if m]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    samples = [int(m) for m in args.samples.split(",")]
    report = {"command": " ".join(sys.argv), "commit": commit(), "cpu": cpu_model(),
              "searches": {}, "retraining": {}}
    for m in samples:
        report["searches"][m] = {**search(workdir, m, args), **analyse(workdir, m, args)}
    for m in args.retrain:
        analysis = report["searches"][m]
        results = retrain(workdir, m, analysis, args)
        speed = latencies(workdir, m, list(results), args)
        rows = []
        for name, runs_ in results.items():
            accuracy = [r["test_accuracy"] for r in runs_]
            rows.append({"name": name, "mean": statistics.mean(accuracy),
                         "sd": statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0,
                         "accuracies": accuracy, "parameters": runs_[0]["parameters"],
                         "latency_ms": speed[name]})
        plot(workdir / f"evidence_m{m}.png", rows, m)
        report["retraining"][m] = rows
    (workdir / "evidence.json").write_text(json.dumps(report, indent=2) + "\n")
    print_tables(report, args)
    print(f"\npeak RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


def print_tables(report, args):
    print(f"commit {report['commit']}; CPU {report['cpu']}\n")
    print("| M | cells | normal cell | reduction cell | entries differing from the prior-alone "
          "cells | inputs from intermediate nodes (normal, reduce) | CIFAR-10 net (20 × 36) "
          "| largest \\|α\\| | spread λ·softmax(α) / (1 − λ)·l | search min |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    from egs_keras import search_space  # noqa: PLC0415

    for m, row in report["searches"].items():
        for name in ("chosen", "most_probable", "prior_alone"):
            if name == "most_probable" and row["chosen_is_most_probable"]:
                continue
            genotype = search_space.Genotype.from_dict(row[name])
            differing = {"chosen": row["differing_chosen"],
                         "most_probable": row["differing_most_probable"],
                         "prior_alone": 0.0}[name]
            depths = [sum(i >= 2 for node in genotype.cells[c].nodes for _, i in node)
                      for c in ("normal", "reduce")]
            print(f"| {m} | {name} | {operations(genotype.cells['normal'])} | "
                  f"{operations(genotype.cells['reduce'])} | {100 * differing:.0f} % | "
                  f"{depths[0]}, {depths[1]} | "
                  f"{row['cifar10_parameters'][name] / 1e6:.2f}M | "
                  + (f"{row['largest_alpha']:.2f} | {row['alpha_spread']:.3f} / "
                     f"{row['prior_spread']:.3f} | {row['search_seconds'] / 60:.0f} |"
                     if name == "chosen" else "| | |"))
    for m, rows in report["retraining"].items():
        print(f"\nM = {m}: retrained {args.train_cells} cells × {args.train_filters} filters, "
              f"{args.train_epochs} epochs, seeds {args.seeds}")
        print("| cells | digits test accuracy (mean ± sd) | per seed | parameters | "
              "latency ms / batch of 32 |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['name']} | {100 * row['mean']:.1f} ± {100 * row['sd']:.1f} % | "
                  + ", ".join(f"{100 * a:.1f}" for a in row["accuracies"])
                  + f" | {row['parameters']:,} | {row['latency_ms']:.1f} |")
    for m, row in report["searches"].items():
        if "strengths" not in row:
            continue
        print(f"\nM = {m}: the prior's strength β, cells derived from the search's final α")
        print("| β | entries differing from the prior-alone cells (same β) | from β = 1 | "
              "parameter-free share of the normal cell | normal cell | CIFAR-10 net |")
        print("|---|---|---|---|---|---|")
        for s in row["strengths"]:
            print(f"| {s['strength']:g} | {100 * s['differing_from_prior_alone']:.0f} % | "
                  f"{100 * s['differing_from_default']:.0f} % | "
                  f"{100 * s['parameter_free_share_normal']:.0f} % | {s['normal']} | "
                  f"{s['cifar10_parameters'] / 1e6:.2f}M |")
        if row["candidates"]:
            scores = ", ".join(f"{100 * c['scores'].get('accuracy', 0):.1f}"
                               for c in row["candidates"])
            print(f"\nM = {m}: sample_and_validate candidates' validation accuracy (0 = most "
                  f"probable): {scores}; chosen {row['chosen_index']}")


if __name__ == "__main__":
    main()
