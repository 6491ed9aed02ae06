"""What the prior and derivation changes do to a recurrent search: one search of the paper's
12-node cell (M = 4, the latency prior at λ = 0.5) on the generated `egs_sentences` corpus
(`configs/rnn_demo.py`), then, from its final α and latency table, the cells derived

* as this package derives them now: `none` outside the prior, edges ranked by α's own
  preference, exact ties drawn by the seed;
* as it derived them before: `none` in the prior at cost 0 (its largest share), edges ranked
  by p (prior included), ties to the earlier input;

each beside the cell the prior alone gives under that policy (same table, α = 0): the share of
(node, operation, input) entries that differ, and how many nodes read the first node s₀ only.

    python benchmarks/recurrent_prior_check.py --workdir=runs/rnn_check [--execution dense]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def derive(alpha, costs, config, now, zero_alpha=False):
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from egs_keras import search_space  # noqa: PLC0415
    from egs_keras.ops import cost_prior  # noqa: PLC0415
    from egs_keras.ops import log_probabilities  # noqa: PLC0415

    search = config.search
    alpha = np.zeros_like(alpha) if zero_alpha else alpha
    prior = cost_prior(costs, neutral_ops=[0] if now else None)
    probs = np.exp(log_probabilities(alpha, prior, search.effectiveness_weight).numpy())
    if now:
        return search_space.derive_genotype(
            {"recurrent": probs}, search.num_samples, kind="rnn", seed=config.seed,
            preferences={"recurrent": tf.nn.softmax(alpha).numpy()})
    # Before: edges ranked by p, ties to the earlier input (a seed-free stable sort).
    order = np.argsort(-np.max(probs[:, 1:], -1), kind="stable")
    ranked = np.empty_like(order)
    ranked[order] = np.arange(len(order))
    preferences = 1.0 - ranked[:, None] / len(order) * np.ones_like(probs)
    return search_space.derive_genotype({"recurrent": probs}, search.num_samples, kind="rnn",
                                        preferences={"recurrent": preferences})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="runs/rnn_check")
    parser.add_argument("--execution", default="dense")
    args = parser.parse_args()
    workdir = pathlib.Path(args.workdir).resolve()
    flags = ["--config=configs/rnn_demo.py", "--config.search.num_nodes=12",
             f"--config.search.execution={args.execution}",
             f"--config.data.data_dir={workdir / 'tfds'}"]
    if not (workdir / "search" / "genotype.json").exists():
        subprocess.run([sys.executable, "-m", "trainers.search", f"--workdir={workdir / 'search'}",
                        *flags], cwd=ROOT, check=True, capture_output=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)})
    import tensorflow as tf  # noqa: PLC0415

    from configs import rnn_demo  # noqa: PLC0415
    from egs_keras import search_space  # noqa: PLC0415
    from egs_keras.runs import language  # noqa: PLC0415

    config = rnn_demo.get_config()
    config.search.num_nodes = 12
    config.search.execution = args.execution
    costs = language.op_costs_of(config, workdir / "search")["recurrent"]
    reader = tf.train.load_checkpoint(
        tf.train.latest_checkpoint(str(workdir / "search" / "checkpoints")))
    key = next(k for k in reader.get_variable_to_shape_map() if "recurrent_alphas" in k
               and k.endswith("logits/.ATTRIBUTES/VARIABLE_VALUE"))
    alpha = reader.get_tensor(key)
    print("| policy | cells | recurrent cell | entries differing from the prior-alone cell | "
          "nodes reading only s₀ |")
    print("|---|---|---|---|---|")
    report = {}
    for now in (True, False):
        searched = derive(alpha, costs, config, now)
        alone = derive(alpha, costs, config, now, zero_alpha=True)
        policy = "now" if now else "before"
        for name, genotype in (("searched", searched), ("prior alone", alone)):
            nodes = genotype.cells["recurrent"].nodes
            cell = " / ".join(", ".join(f"{op}({i})" for op, i in node) for node in nodes)
            only_first = sum(all(i == 0 for _, i in node) for node in nodes)
            share = search_space.differing_pairs(genotype, alone)
            print(f"| {policy} | {name} | {cell} | {100 * share:.0f} % | {only_first} of "
                  f"{len(nodes)} |")
            report[f"{policy}, {name}"] = genotype.to_dict()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    print(f"\nlargest |α| {abs(alpha).max():.2f}; commit {commit}")
    (workdir / "check.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
