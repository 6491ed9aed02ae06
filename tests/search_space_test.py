import json

import numpy as np
import pytest

from egs_keras import search_space
from egs_keras.ops import code_distribution
from egs_keras.search_space import CellGenotype
from egs_keras.search_space import Genotype


def test_edges_of_the_paper_cell():
    assert len(search_space.edges(4)) == 14  # 2 inputs, 4 intermediate nodes
    assert search_space.edges(4)[-1] == (4, 5)
    assert search_space.edges(3, num_inputs=1) == [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]


@pytest.mark.parametrize("name", ["darts_v1", "darts_v2", "darts_rnn_v2"])
def test_published_genotypes_round_trip_through_json_and_files(name, tmp_path):
    genotype = search_space.published_genotype(name)
    assert Genotype.from_json(genotype.to_json()) == genotype
    genotype.save(tmp_path / "g.json")
    assert Genotype.load(tmp_path / "g.json") == genotype
    assert json.loads(genotype.to_json())["schema_version"] == search_space.SCHEMA_VERSION


def test_darts_v2_is_the_published_cell():
    genotype = search_space.published_genotype("darts_v2")
    normal, reduce = genotype.cells["normal"], genotype.cells["reduce"]
    assert [len(node) for node in normal.nodes] == [2, 2, 2, 2]
    assert normal.nodes[3] == (("skip_connect", 0), ("dil_conv_3x3", 2))
    assert sum(op == "max_pool_3x3" for node in reduce.nodes for op, _ in node) == 5
    assert normal.concat == (2, 3, 4, 5)
    assert search_space.published_genotype("darts_rnn_v2").cells["recurrent"].num_nodes == 9


def _genotype_dict(**changes):
    data = search_space.published_genotype("darts_v2").to_dict()
    for path, value in changes.items():
        target = data
        keys = path.split("/")
        for key in keys[:-1]:
            target = target[int(key) if key.isdigit() else key]
        target[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return data


@pytest.mark.parametrize(
    "changes, message",
    [({"cells/normal/nodes/1/0": ["conv_9x9", 0]}, r"cells.normal.nodes\[1\]\[0\].*conv_9x9"),
     ({"cells/normal/nodes/1/0": ["none", 0]}, r"cells.normal.nodes\[1\]\[0\].*'none'"),
     ({"cells/reduce/nodes/0/1": ["skip_connect", 2]},
      r"cells.reduce.nodes\[0\]\[1\].*input index in \[0, 2\)"),
     ({"cells/normal/concat": [2, 9]}, r"cells.normal.concat.*\[2, 6\)"),
     ({"schema_version": 99}, "`schema_version`, expected 1, got 99"),
     ({"kind": "transformer"}, "`kind`"),
     ({"cells/normal": {"nodes": []}}, r"cells.normal.*concat"),
     ({"cells": {"normal": {"nodes": [], "concat": []}}}, "exactly the cells"),
     # The probe's row 11: an empty node trained to chance; num_inputs 1 crashed in call.
     ({"cells/normal/nodes/2": []}, r"cells.normal.nodes\[2\].*at least one \[operation"),
     ({"cells/reduce/nodes": []}, r"cells.reduce.nodes.*at least one intermediate node"),
     ({"cells/normal/num_inputs": 1}, r"cells.normal.num_inputs.*expected 2"),],
)
def test_invalid_genotypes_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        Genotype.from_dict(_genotype_dict(**changes))


def test_missing_and_corrupt_files_are_reported_with_their_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        Genotype.load(tmp_path / "nothing.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema_version": 1, "kind": ')
    with pytest.raises(ValueError, match="corrupt.json.*not valid JSON"):
        Genotype.load(corrupt)
    with pytest.raises(ValueError, match="`name`, expected one of"):
        search_space.published_genotype("nasnet")


def _peaked(op_per_edge, num_ops=8, mass=0.9):
    """Probabilities with `mass` on the listed op(s) of each edge."""
    probs = np.full((len(op_per_edge), num_ops), 0.0)
    for e, ops in enumerate(op_per_edge):
        ops = ops if isinstance(ops, tuple) else (ops,)
        probs[e] = (1 - mass) / (num_ops - len(ops))
        probs[e, list(ops)] = mass / len(ops)
    return probs


def test_most_probable_derivation_keeps_several_ops_and_drops_none():
    # Edge order: (0,2) (1,2) | (0,3) (1,3) (2,3) | ...; 0 = none, 3 = skip, 4 = sep_conv_3x3.
    ops = [(4, 6), 0, 0, 3, 0, 0, 0, 0, 5, 0, 0, 0, 0, 7]
    probs = _peaked(ops)
    genotype = search_space.derive_genotype({"normal": probs, "reduce": probs}, num_samples=4)
    normal = genotype.cells["normal"]
    assert normal.nodes[0] == (("sep_conv_3x3", 0), ("dil_conv_3x3", 0))
    assert normal.nodes[1] == (("skip_connect", 1),)
    assert normal.nodes[2] == (("sep_conv_5x5", 3),)
    assert normal.nodes[3] == (("dil_conv_5x5", 4),)
    assert normal.concat == (2, 3, 4, 5)
    codes = code_distribution.most_probable_code(probs, 4).numpy()
    assert codes[0].sum() == 2  # the exact most probable code of edge 0 holds both ops


def _inputs(cell):
    return [sorted({i for _, i in node}) for node in cell.nodes]


def test_each_node_keeps_its_two_strongest_edges_as_darts():
    """Edge strength = its most probable non-`none` operation; `none` does not count, and a
    kept edge brings every non-`none` operation of its code."""
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(8) * 0.5, size=14)
    probs[:, 0] += 2.0  # `none` dominates every edge: it must not decide which edges stay
    probs /= probs.sum(-1, keepdims=True)
    genotype = search_space.derive_genotype({"normal": probs, "reduce": probs}, num_samples=7)
    codes = code_distribution.most_probable_code(probs, 7).numpy()
    for j, node_inputs in enumerate(_inputs(genotype.cells["normal"])):
        incoming = [e for e, (_, node) in enumerate(search_space.edges(4)) if node == 2 + j]
        strength = {search_space.edges(4)[e][0]: probs[e, 1:].max() for e in incoming}
        strongest = sorted(sorted(strength, key=lambda i: -strength[i])[:2])
        kept = [i for i in strongest if codes[incoming[i], 1:].any()]
        assert node_inputs == (kept or node_inputs) and len(node_inputs) <= 2
    assert genotype.derivation == {"strategy": "most_probable", "num_samples": 7,
                                   "edges_per_node": 2, "seed": 0,
                                   "edges_ranked_by": "probabilities"}
    everything = search_space.derive_genotype({"normal": probs, "reduce": probs}, 7,
                                              edges_per_node=None)
    assert [len(n) for n in _inputs(everything.cells["normal"])] > [2, 2, 2, 2]
    loaded = Genotype.from_json(genotype.to_json())
    assert loaded == genotype and loaded.derivation == genotype.derivation


def test_two_edges_per_node_shrink_the_uniform_cell():
    """At uniform p, M = 7, each code holds 5 operations: the whole DAG keeps 14 edges (about
    5 · 7/8 non-`none` operations each), two edges per node keep 8 of them."""
    uniform = np.full((14, 8), 1 / 8)
    sizes = {}
    for edges_per_node in (None, 2, 1):
        genotype = search_space.derive_genotype({"normal": uniform, "reduce": uniform}, 7,
                                                edges_per_node=edges_per_node)
        sizes[edges_per_node] = sum(len(n) for n in genotype.cells["normal"].nodes)
        assert [len(n) for n in _inputs(genotype.cells["normal"])] == (
            [2, 3, 4, 5] if edges_per_node is None else [edges_per_node] * 4)
    assert sizes == {None: 14 * 4, 2: 8 * 4, 1: 4 * 4}  # `none` is in each code: 4 ops left


def test_recurrent_cells_keep_one_edge_per_node():
    probs = np.random.default_rng(2).dirichlet(np.ones(5), size=36)  # 8 searched nodes
    genotype = search_space.derive_genotype({"recurrent": probs}, 4, kind="rnn")
    assert all(len(inputs) == 1 for inputs in _inputs(genotype.cells["recurrent"]))
    assert genotype.derivation["edges_per_node"] == 1
    with pytest.raises(ValueError, match="`edges_per_node`, expected a positive integer"):
        search_space.derive_genotype({"recurrent": probs}, 4, kind="rnn", edges_per_node=0)


def test_random_genotypes_with_the_derived_cells_shape():
    for seed in range(20):
        genotype = search_space.random_genotype(4, seed=seed, edges_per_node=2)
        for cell in genotype.cells.values():
            assert [len(inputs) for inputs in _inputs(cell)] == [2, 2, 2, 2]


def test_a_node_whose_edges_are_all_none_gets_its_strongest_operation():
    probs = _peaked([0] * 14, mass=0.99)
    probs[12, 2] = 0.009  # the strongest non-none entry into node 5: avg_pool from node 3
    genotype = search_space.derive_genotype({"normal": probs, "reduce": probs}, num_samples=1)
    assert genotype.cells["normal"].nodes[3] == (("avg_pool_3x3", 3),)
    assert all(len(node) == 1 for node in genotype.cells["normal"].nodes)


def test_sample_derivation_is_reproducible_and_follows_the_inclusion_law():
    probs = np.random.default_rng(0).dirichlet(np.ones(8), size=14)
    probs[:, 0] = 1e-9  # keep `none` and the fallback out of the picture
    probs /= probs.sum(-1, keepdims=True)
    first = search_space.derive_genotype({"normal": probs, "reduce": probs}, 3, strategy="sample",
                                         seed=7)
    again = search_space.derive_genotype({"normal": probs, "reduce": probs}, 3, strategy="sample",
                                         seed=7)
    assert first == again
    hits = np.zeros(8)
    draws = 400
    for seed in range(draws):
        genotype = search_space.derive_genotype({"normal": probs[:2], "reduce": probs[:2]}, 3,
                                                strategy="sample", seed=seed)
        for op, i in genotype.cells["normal"].nodes[0]:
            if i == 0:
                hits[search_space.CNN_PRIMITIVES.index(op)] += 1
    inclusion = code_distribution.inclusion_probability(probs[0], 3).numpy()
    z = (hits / draws - inclusion) / np.sqrt(inclusion * (1 - inclusion) / draws + 1e-12)
    assert np.abs(z[1:]).max() < 4.5, z


def test_rnn_derivation_and_bad_arguments():
    probs = np.random.default_rng(1).dirichlet(np.ones(5), size=6)  # 3 nodes after node 0
    genotype = search_space.derive_genotype({"recurrent": probs}, 2, kind="rnn")
    assert genotype.kind == "rnn" and genotype.cells["recurrent"].concat == (1, 2, 3)
    with pytest.raises(ValueError, match=r"probabilities\['normal'\].*num_edges one of 2, 5, 9"):
        search_space.derive_genotype({"normal": np.ones((13, 8)) / 8, "reduce": np.ones((14, 8))},
                                     4)
    with pytest.raises(ValueError, match="`strategy`"):
        search_space.derive_genotype({"normal": probs}, 4, strategy="greedy")
    with pytest.raises(ValueError, match="`num_samples`"):
        search_space.derive_genotype({"normal": probs}, 0)


def test_hand_built_genotype_validates_on_construction():
    cell = CellGenotype(nodes=[[("skip_connect", 0)], [("sep_conv_3x3", 2)]], concat=[2, 3])
    genotype = Genotype(cells={"normal": cell, "reduce": cell})
    assert genotype.cells["normal"].num_nodes == 4
    with pytest.raises(ValueError, match=r"nodes\[0\]\[0\].*input index in \[0, 2\)"):
        Genotype(cells={"normal": CellGenotype(nodes=[[("skip_connect", 3)]], concat=[2]),
                        "reduce": cell})


def test_random_genotypes_are_uniform_over_the_egs_codes():
    """Chi-square: the operations on one edge follow the uniform law over the codes with 1..M
    ones (`none` included, then dropped), among the codes that leave operations on the edge."""
    from collections import Counter
    from itertools import combinations

    from scipy import stats

    primitives, num_samples = ("none", "a", "b", "c"), 2
    weights = Counter(frozenset(code) - {"none"} for m in range(1, num_samples + 1)
                      for code in combinations(primitives, m))
    del weights[frozenset()]  # the code {none}: no operation on the edge
    observed = Counter()
    for seed in range(6000):
        genotype = search_space.random_genotype(num_samples, primitives=primitives,
                                                num_intermediate=1, seed=seed)
        ops = frozenset(op for op, i in genotype.cells["normal"].nodes[0] if i == 0)
        if ops:
            observed[ops] += 1
    keys = sorted(weights, key=sorted)
    total, norm = sum(observed.values()), sum(weights.values())
    assert set(observed) <= set(weights)
    result = stats.chisquare([observed[k] for k in keys],
                             [total * weights[k] / norm for k in keys])
    assert result.pvalue > 1e-3


def test_random_genotypes_are_valid_and_reproducible():
    a = search_space.random_genotype(7, seed=3)
    b = search_space.random_genotype(7, seed=3)
    assert a == b and a != search_space.random_genotype(7, seed=4)
    for cell in a.cells.values():
        assert all(cell.nodes[j] for j in range(4))  # every node has an input
    rnn = search_space.random_genotype(4, kind="rnn", num_intermediate=8, seed=0)
    assert rnn.kind == "rnn" and len(rnn.cells["recurrent"].nodes) == 8
    wide = search_space.random_genotype(9, seed=0)  # M > K: codes of 1..K operations
    per_edge = [sum(i == source for _, i in node) for node in wide.cells["normal"].nodes
                for source in {i for _, i in node}]
    assert max(per_edge) <= 7 and len(set(map(tuple, wide.cells["normal"].nodes))) == 4
    with pytest.raises(ValueError, match="num_samples"):
        search_space.random_genotype(0)


def test_the_cnn_networks_take_a_genotype_by_name_path_dict_or_object(tmp_path):
    published = search_space.published_genotype("darts_v2")
    published.save(tmp_path / "cells.json")
    for reference in ("darts_v2", tmp_path / "cells.json", str(tmp_path / "cells.json"),
                      published.to_dict(), published):
        assert search_space.cnn_genotype(reference) == published
    with pytest.raises(ValueError, match='a CNN Genotype.*"darts_v2"'):
        search_space.cnn_genotype("darts_rnn_v2")
    with pytest.raises(ValueError, match="no such file"):
        search_space.cnn_genotype(tmp_path / "missing.json")


def test_tied_edges_are_kept_at_random_not_by_input_order():
    """At α = 0 every edge of a node ties: the kept edges are drawn uniformly (by the seed),
    not always inputs 0 and 1 (a cell without depth, as ranking by input order gave)."""
    uniform = np.full((14, 8), 1 / 8)
    counts = np.zeros(5)
    for seed in range(300):
        genotype = search_space.derive_genotype({"normal": uniform, "reduce": uniform}, 4,
                                                seed=seed)
        for i in _inputs(genotype.cells["normal"])[3]:  # node 5 reads two of inputs 0..4
            counts[i] += 1
        assert genotype == search_space.derive_genotype(
            {"normal": uniform, "reduce": uniform}, 4, seed=seed)  # reproducible
    expected = 300 * 2 / 5
    z = (counts - expected) / np.sqrt(300 * 0.4 * 0.6)
    assert np.abs(z).max() < 4.5, counts


def test_edges_are_ranked_by_the_searched_preference_not_the_prior():
    """The prior costs every edge of a cell alike (an identity is free on every normal edge),
    so p would rank edges by noise or input order; ranking by h = softmax(α) keeps the edges
    the search prefers."""
    probs = np.full((14, 8), 1 / 8)
    probs[:, 3] = 0.3  # skip_connect made likely on every edge by a prior
    probs /= probs.sum(-1, keepdims=True)
    preferences = np.full((14, 8), 1 / 8)
    preferences[13, 4] = 0.5  # the search prefers sep_conv_3x3 on edge (4, 5)
    preferences[12, 5] = 0.4  # and sep_conv_5x5 on edge (3, 5)
    genotype = search_space.derive_genotype({"normal": probs, "reduce": probs}, 1,
                                            preferences={"normal": preferences,
                                                         "reduce": preferences})
    assert _inputs(genotype.cells["normal"])[3] == [3, 4]
    assert genotype.derivation["edges_ranked_by"] == "alpha"
    with pytest.raises(ValueError, match=r"preferences\['normal'\]"):
        search_space.derive_genotype({"normal": probs, "reduce": probs}, 1,
                                     preferences={"normal": preferences[:5],
                                                  "reduce": preferences})


def test_sampled_edges_follow_their_strength():
    """"sample" draws each node's kept edges with probability ∝ strength: a strong edge is
    kept more often than a weak one, and with one edge per node at the rate its share."""
    preferences = np.full((5, 8), 1 / 8)
    preferences[2, 1:] = [0.6, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0]  # edge (0, 3) strength 0.6
    preferences[3, 1:] = [0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.0]   # edge (1, 3) strength 0.2
    preferences[4, 1:] = [0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.0]   # edge (2, 3) strength 0.2
    probs = np.full((5, 8), 1 / 8)
    picks = np.zeros(3)
    draws = 1000
    for seed in range(draws):
        genotype = search_space.derive_genotype(
            {"normal": probs, "reduce": probs}, 2, strategy="sample", seed=seed,
            edges_per_node=1, preferences={"normal": preferences, "reduce": preferences})
        picks[_inputs(genotype.cells["normal"])[1][0]] += 1
    share = np.array([0.6, 0.2, 0.2])
    z = (picks / draws - share) / np.sqrt(share * (1 - share) / draws)
    assert np.abs(z).max() < 4.5, picks


def test_genotype_codes_and_differing_pairs():
    genotype = search_space.published_genotype("darts_v2")
    codes = search_space.genotype_codes(genotype)
    assert codes["normal"].shape == (14, 8) and codes["normal"].sum() == 8
    assert codes["normal"][0, search_space.CNN_PRIMITIVES.index("sep_conv_3x3")] == 1
    other = search_space.published_genotype("darts_v1")
    share = search_space.differing_pairs(other, genotype)
    assert 0 < share < 1
    assert search_space.differing_pairs(genotype, genotype) == 0.0
