"""How a search derives its genotype from the searched network (the finish of
`run_loop.search`).

Derivation follows `config.search.derive`: "most_probable", "sample", or the paper's
"sample_and_validate" ("the network architecture A is identified by sampling with pα(A)";
"we find the best cells according to their validation performance"): the most probable
architecture and `derive_candidates − 1` architectures drawn from the search's law are each
scored on the validation split with the search network's shared weights, and the best is
kept. Every candidate with its scores goes to `<workdir>/candidates.json`, and the scores to
the genotype's `derivation` record (so to the pipeline's summary too).

>>> genotype = derive(model, config, workdir, validation)              # doctest: +SKIP
"""

import json

import numpy as np

from egs_keras import search_space
from egs_keras.training import distributed_loop

CANDIDATES_FILE = "candidates.json"


def derive(model, config, workdir, validation):
    """The genotype `model`'s search derives as `config.search.derive` and `edges_per_node`
    say, written with its pictures (and, for "sample_and_validate", the scored candidates)
    into `workdir` (a `Workdir`) by the chief."""
    search = config.search
    options = derivation_options(config)
    if search.derive == "sample_and_validate":
        genotype, candidates = sample_and_validate(
            model, workdir.strategy, validation, search.get("derive_candidates", 10), **options)
        workdir.write_json(CANDIDATES_FILE, candidates)
    else:
        genotype = model.genotype(search.derive, **options)
    workdir.write_genotype(genotype)
    return genotype


def derivation_options(config):
    """`model.genotype()` arguments of a search config besides the strategy: seed, edges per
    node (0 in the config: every edge)."""
    search = config.search
    return {"seed": config.seed, "edges_per_node": search.edges_per_node or None}


def recorder_strategy(config):
    """The strategy of the per-epoch genotypes: the config's, but "most_probable" for
    "sample_and_validate" (scoring candidates every epoch would cost a validation pass
    each)."""
    derive = config.search.derive
    return "most_probable" if derive == "sample_and_validate" else derive


def sample_and_validate(model, strategy, validation, num_candidates, *, seed=0,
                        edges_per_node="auto"):
    """(the best genotype, the candidates' record): the most probable genotype and
    `num_candidates − 1` drawn from the search's law ("sample", seeds `seed + 1`, ...),
    each scored on `validation` with the model's shared weights (`fixed_architecture`);
    the best by validation accuracy (language models: by loss, i.e. perplexity) is kept,
    ties to the earlier candidate. Duplicates are scored once.

    The record: {"objective": ..., "chosen": index, "candidates": [{"index", "strategy",
    "seed", "scores", "genotype"}]}; the chosen genotype's `derivation` holds the same
    without the genotypes.
    """
    candidates = [("most_probable", seed, model.genotype("most_probable", seed=seed,
                                                         edges_per_node=edges_per_node))]
    for i in range(1, num_candidates):
        candidates.append(("sample", seed + i, model.genotype(
            "sample", seed=seed + i, edges_per_node=edges_per_node)))
    scores = {}  # {the cells as JSON: scores}: a repeated architecture is scored once
    rows = []
    with model.fixed_architecture() as use:
        distributed_loop.forget_test_step(model)
        for index, (kind, candidate_seed, genotype) in enumerate(candidates):
            key = json.dumps(genotype.to_dict()["cells"], sort_keys=True)
            if key not in scores:
                use(search_space.genotype_codes(genotype))
                scores[key] = {name: float(value) for name, value in
                               distributed_loop.evaluate(model, strategy, validation).items()}
            rows.append({"index": index, "strategy": kind, "seed": candidate_seed,
                         "scores": scores[key]})
    distributed_loop.forget_test_step(model)
    objective = "accuracy" if "accuracy" in rows[0]["scores"] else "loss"
    sign = 1.0 if objective == "accuracy" else -1.0
    values = [sign * r["scores"][objective] for r in rows]
    chosen = int(np.argmax(values))
    best = candidates[chosen][2]
    derivation = {**best.derivation, "strategy": "sample_and_validate",
                  "objective": objective, "chosen": chosen,
                  "candidates": [{k: r[k] for k in ("index", "strategy", "seed", "scores")}
                                 for r in rows]}
    genotype = search_space.Genotype(cells=best.cells, kind=best.kind,
                                     primitives=best.primitives, name=best.name,
                                     derivation=derivation)
    record = {"objective": objective, "chosen": chosen,
              "candidates": [{**r, "genotype": candidates[r["index"]][2].to_dict()}
                             for r in rows]}
    return genotype, record
