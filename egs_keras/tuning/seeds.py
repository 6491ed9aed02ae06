"""Multi-seed selection and the searched-versus-random comparison.

`run_multi_seed` searches with each seed, retrains every derived genotype briefly, keeps the
best and reports mean ± std. `compare_with_random` adds, for the same seeds, genotypes drawn
uniformly from the same space and retrained with the same budget, and writes a table and a
plot. Scores come from real training runs on validation data (`scoring`).

>>> summary = compare_with_random(config, "runs/compare", seeds=[0, 1, 2],
...                               retrain_epochs=5)                        # doctest: +SKIP
>>> print(summary["table"])                                                # doctest: +SKIP

Everything resumes: each seed's search keeps its checkpoints, each finished score is stored in
`<directory>/<side>/seed_<s>/score.json` and read back instead of being recomputed.
"""

import pathlib

import numpy as np

from egs_keras import _validation
from egs_keras import record_files
from egs_keras.costs import prior
from egs_keras.runs import tasks
from egs_keras.training.workdir import Workdir
from egs_keras.tuning import scoring


def _seeds(seeds):
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise _validation.invalid("seeds", "a non-empty list of distinct integers", seeds)
    return seeds


def _scored(folder, compute):
    """The score stored in `folder/score.json`, or `compute()` → (genotype, value) stored."""
    path = folder / "score.json"
    if path.exists():
        return record_files.read_json(path, "a finished seed's score")
    genotype, value = compute()
    folder.mkdir(parents=True, exist_ok=True)
    record = {"value": value, "genotype": genotype.to_dict()}
    record_files.write_json(path, record)
    return record


def _summary(config, seeds, records_by_seed):
    values = np.array([records_by_seed[s]["value"] for s in seeds])
    direction = scoring.objective(config).direction
    best = seeds[int(np.argmax(values) if direction == "max" else np.argmin(values))]
    return {"objective": scoring.objective(config).name, "direction": direction,
            "seeds": seeds, "values": values.tolist(), "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0, "best_seed": best,
            "best_genotype": records_by_seed[best]["genotype"]}


def run_multi_seed(config, directory, seeds, retrain_epochs, strategy="default"):
    """Searches with each seed of `seeds`, retrains each derived genotype for
    `retrain_epochs` epochs (both under `strategy`), and returns {"values", "mean", "std",
    "best_seed", "best_genotype", ...}; writes `summary.json` and `best_genotype.json` to
    `directory`."""
    with Workdir.open(directory, strategy, name="directory") as run_dir:
        directory = run_dir.path
        seeds = _seeds(seeds)
        scored = {}
        for seed in seeds:
            seed_config = prior.share_latency_table(config.copy_and_resolve_references(),
                                                           directory)
            seed_config.seed = seed
            folder = directory / f"seed_{seed}"

            def compute(seed_config=seed_config, folder=folder):
                genotype = tasks.run_search(seed_config, folder / "search", strategy)
                # Retrained under the base config's seed: only the genotype differs between runs.
                data = scoring.scoring_data(config, retrain_epochs)
                return genotype, scoring.score_genotype(config, genotype, data, strategy)

            scored[seed] = _scored(folder, compute)
        summary = _summary(config, seeds, scored)
        record_files.write_json(directory / "summary.json", summary)
        record_files.write_json(directory / "best_genotype.json", summary["best_genotype"])
        return summary


def run_random_genotypes(config, directory, seeds, retrain_epochs, strategy="default"):
    """The random side of the comparison: for each seed, a genotype drawn uniformly from the
    space of `config.search`, retrained exactly as `run_multi_seed` retrains."""
    with Workdir.open(directory, strategy, name="directory") as run_dir:
        directory = run_dir.path
        seeds = _seeds(seeds)
        scored = {}
        for seed in seeds:
            def compute(seed=seed):
                genotype = scoring.random_genotype_of(config, seed)
                data = scoring.scoring_data(config, retrain_epochs)
                return genotype, scoring.score_genotype(config, genotype, data, strategy)

            scored[seed] = _scored(directory / f"seed_{seed}", compute)
        return _summary(config, seeds, scored)


def compare_with_random(config, directory, seeds, retrain_epochs, strategy="default"):
    """Searched versus random genotypes over `seeds`, each retrained for `retrain_epochs`
    epochs; returns {"searched", "random", "table"} and writes `comparison.json`,
    `comparison.md` and `comparison.png` to `directory`."""
    with Workdir.open(directory, strategy, name="directory") as run_dir:
        directory = run_dir.path
        run_dir.accept_config(config)
        searched = run_multi_seed(config, directory / "searched", seeds, retrain_epochs, strategy)
        random = run_random_genotypes(config, directory / "random", seeds, retrain_epochs,
                                      strategy)
        table = comparison_table(config, searched, random, retrain_epochs)
        result = {"searched": searched, "random": random, "retrain_epochs": retrain_epochs,
                  "table": table}
        record_files.write_json(directory / "comparison.json", result)
        record_files.atomic_write_text(directory / "comparison.md", table + "\n")
        comparison_plot(searched, random, directory / "comparison.png")
        return result


def comparison_table(config, searched, random, retrain_epochs):
    """A Markdown table: mean ± std and every seed's value, searched and random."""
    name = searched["objective"]
    lines = [f"{config.data.name}: {name} after {retrain_epochs} retraining epochs "
             f"(validation data; {len(searched['seeds'])} seeds; M = "
             f"{config.search.num_samples})", "",
             f"| genotypes | {name} mean ± std | per seed |", "|---|---|---|"]
    for label, side in (("EGS search", searched), ("random, same space", random)):
        per_seed = ", ".join(f"{s}: {v:.4f}" for s, v in zip(side["seeds"], side["values"],
                                                             strict=True))
        lines.append(f"| {label} | {side['mean']:.4f} ± {side['std']:.4f} | {per_seed} |")
    return "\n".join(lines)


def comparison_plot(searched, random, path):
    """Bars of the means with ± std and every seed's value as a dot; a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(4.5, 3.5))
    for x, (label, side) in enumerate((("EGS search", searched), ("random", random))):
        axis.bar(x, side["mean"], yerr=side["std"], capsize=6, color=("tab:blue", "tab:gray")[x],
                 alpha=0.7, label=label)
        axis.scatter([x] * len(side["values"]), side["values"], color="black", zorder=3, s=12)
    axis.set_xticks([0, 1], ["EGS search", "random"])
    axis.set_ylabel(searched["objective"])
    axis.set_title(f"{len(searched['seeds'])} seeds, mean ± std")
    figure.tight_layout()
    figure.savefig(pathlib.Path(path), dpi=100)
    pyplot.close(figure)
