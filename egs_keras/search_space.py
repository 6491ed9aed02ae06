"""The search space: candidate operations, genotypes (several operations per edge), derivation.

A cell is a DAG. Its first `num_inputs` nodes are inputs (CNN: the outputs of the two previous
cells; RNN: the first recurrent node); every later node j sums (operation, input) pairs with
input < j, and the cell's output concatenates the nodes in `concat`. Unlike DARTS (exactly two
inputs per node), an EGS genotype may hold any number of pairs per node, several on one edge.

Genotypes are plain data and round-trip through JSON with a schema version:

>>> genotype = published_genotype("darts_v2")
>>> genotype.cells["normal"].nodes[0]
(('sep_conv_3x3', 0), ('sep_conv_3x3', 1))
>>> Genotype.from_json(genotype.to_json()) == genotype
True
"""

import dataclasses
import importlib.resources
import json
import math
import numbers
import pathlib

import numpy as np

from egs_keras import _validation
from egs_keras import record_files
from egs_keras.ops import code_distribution

SCHEMA_VERSION = 1

CNN_PRIMITIVES = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
RNN_PRIMITIVES = ("none", "tanh", "relu", "sigmoid", "identity")
DEFAULT_PRIMITIVES = {"cnn": CNN_PRIMITIVES, "rnn": RNN_PRIMITIVES}  # per genotype kind
CELL_NAMES = {"cnn": ("normal", "reduce"), "rnn": ("recurrent",)}
# Input nodes of each kind's cells: the two previous cells' outputs; the input and the state.
NUM_INPUTS = {"cnn": 2, "rnn": 1}
NONE = "none"


def edges(num_intermediate, num_inputs=2):
    """The (input, node) pairs of a cell in edge order: node by node, then input by input.

    >>> edges(2)
    [(0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    """
    return [
        (i, num_inputs + j)
        for j in range(num_intermediate)
        for i in range(num_inputs + j)
    ]


def _node_index(name, value):
    """A node index as an int: an integer (1.7 or "1" would be cut or parsed silently)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _validation.invalid(name, "an integer node index", value)
    return int(value)


@dataclasses.dataclass(frozen=True)
class CellGenotype:
    """One cell: for each intermediate node, its (operation, input index) pairs.

    Args:
        nodes: one tuple of (op name, input index) pairs per intermediate node; node
            `num_inputs + j` may read any node before it.
        concat: indices of the nodes concatenated into the cell's output.
        num_inputs: number of input nodes (2 for CNN cells, 1 for the recurrent cell).
    """

    nodes: tuple
    concat: tuple
    num_inputs: int = 2

    def __post_init__(self):
        nodes = tuple(tuple((str(op), _node_index(f"nodes[{j}][{p}]'s input", i))
                            for p, (op, i) in enumerate(node))
                      for j, node in enumerate(self.nodes))
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "concat", tuple(_node_index(f"concat[{k}]", c)
                                                 for k, c in enumerate(self.concat)))

    @property
    def num_nodes(self):
        """All nodes: inputs and intermediate ones."""
        return self.num_inputs + len(self.nodes)

    def to_dict(self):
        return {
            "num_inputs": self.num_inputs,
            "nodes": [[[op, i] for op, i in node] for node in self.nodes],
            "concat": list(self.concat),
        }


@dataclasses.dataclass(frozen=True)
class Genotype:
    """A searched architecture: named cells over a list of primitives.

    Args:
        cells: {"normal": CellGenotype, "reduce": CellGenotype} for `kind="cnn"`,
            {"recurrent": CellGenotype} for `kind="rnn"`.
        kind: "cnn" or "rnn".
        primitives: the candidate operations the genotype was searched over.
        name: optional label, e.g. "darts_v2".
        derivation: how it was derived from a search, e.g. {"strategy": "most_probable",
            "num_samples": 7, "edges_per_node": 2, "seed": 0} (`derive_genotype` fills it);
            a record only: genotypes with the same cells are equal whatever it says.
    """

    cells: dict
    kind: str = "cnn"
    primitives: tuple = CNN_PRIMITIVES
    name: str = ""
    derivation: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "primitives", tuple(self.primitives))
        _check_genotype(self)

    def to_dict(self):
        data = {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "name": self.name,
            "primitives": list(self.primitives),
            "cells": {name: cell.to_dict() for name, cell in self.cells.items()},
        }
        if self.derivation:
            data["derivation"] = dict(self.derivation)
        return data

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path):
        """Writes the genotype as JSON to `path`, atomically (a crash leaves the old file or
        the new one, never half of one)."""
        record_files.atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise _validation.invalid("genotype", "a JSON object", type(data).__name__)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise _validation.invalid(
                "schema_version", f"{SCHEMA_VERSION}", version,
                hint="The file was written by another version of egs_keras.",
            )
        kind = data.get("kind")
        if kind not in CELL_NAMES:
            raise _validation.invalid("kind", f"one of {sorted(CELL_NAMES)}", kind)
        cells = data.get("cells")
        if not isinstance(cells, dict):
            raise _validation.invalid("cells", "an object of named cells", cells)
        parsed = {}
        for name, cell in cells.items():
            try:
                parsed[name] = CellGenotype(
                    nodes=cell["nodes"], concat=cell["concat"],
                    num_inputs=cell.get("num_inputs", NUM_INPUTS[kind]),
                )
            except (KeyError, TypeError, ValueError) as error:
                raise _validation.invalid(
                    f"cells.{name}",
                    '{"num_inputs": int, "nodes": [[[op, input], ...], ...], "concat": [...]}',
                    cell, hint=f"({error})",
                ) from None
        return cls(
            cells=parsed, kind=kind,
            primitives=data.get("primitives", DEFAULT_PRIMITIVES[kind]),
            name=data.get("name", ""),
            derivation=dict(data.get("derivation") or {}),
        )

    @classmethod
    def from_json(cls, text):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"Received a genotype that is not valid JSON: {error}.") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path):
        """Reads a genotype JSON file; errors name the file and the faulty field."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Genotype file {str(path)!r} does not exist.")
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"In genotype file {str(path)!r}: {error}") from None


def _check_genotype(genotype):
    if genotype.kind not in CELL_NAMES:
        raise _validation.invalid("kind", f"one of {sorted(CELL_NAMES)}", genotype.kind)
    expected = CELL_NAMES[genotype.kind]
    if tuple(sorted(genotype.cells)) != tuple(sorted(expected)):
        raise _validation.invalid(
            "cells", f"exactly the cells {list(expected)} for kind {genotype.kind!r}",
            sorted(genotype.cells),
        )
    for name, cell in genotype.cells.items():
        if cell.num_inputs != NUM_INPUTS[genotype.kind]:
            raise _validation.invalid(
                f"cells.{name}.num_inputs", f"{NUM_INPUTS[genotype.kind]} (the number of input "
                f"nodes of every {genotype.kind!r} cell the networks build)", cell.num_inputs)
        if not cell.nodes:
            raise _validation.invalid(f"cells.{name}.nodes", "at least one intermediate node",
                                      [])
        for j, node in enumerate(cell.nodes):
            if not node:
                raise _validation.invalid(
                    f"cells.{name}.nodes[{j}]", "at least one [operation, input] pair", [],
                    hint="A node without inputs would output zeros; remove it (and its index "
                         "from concat, renumbering later nodes) or give it an input.")
            for p, (op, i) in enumerate(node):
                where = f"cells.{name}.nodes[{j}][{p}]"
                if op not in genotype.primitives or op == NONE:
                    raise _validation.invalid(
                        where, f"an operation of {list(genotype.primitives[1:])}", op
                    )
                if not 0 <= i < cell.num_inputs + j:
                    raise _validation.invalid(
                        where, f"an input index in [0, {cell.num_inputs + j}) (node "
                        f"{cell.num_inputs + j} reads only earlier nodes)", i,
                    )
        for c in cell.concat:
            if not cell.num_inputs <= c < cell.num_nodes:
                raise _validation.invalid(
                    f"cells.{name}.concat",
                    f"intermediate node indices in [{cell.num_inputs}, {cell.num_nodes})",
                    list(cell.concat),
                )


def published_genotype(name):
    """A published genotype shipped as data: "darts_v1", "darts_v2" or "darts_rnn_v2"."""
    folder = importlib.resources.files("egs_keras") / "genotypes"
    available = sorted(p.name[: -len(".json")] for p in folder.iterdir()
                       if p.name.endswith(".json"))
    if name not in available:
        raise _validation.invalid("name", f"one of {available}", name)
    return Genotype.from_json((folder / f"{name}.json").read_text(encoding="utf-8"))


def load_genotype(reference):
    """A genotype from a `Genotype`, a JSON file path or a published name ("darts_v2")."""
    if isinstance(reference, Genotype):
        return reference
    path = pathlib.Path(str(reference))
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise ValueError(
                f"Received genotype={str(reference)!r}, but there is no such file. Expected a "
                "genotype JSON written by egs-search (<workdir>/genotype.json) or a published "
                "name such as 'darts_v2'.")
        return Genotype.load(path)
    return published_genotype(str(reference))


def cnn_genotype(genotype):
    """`genotype` as a `Genotype` of kind "cnn": a `Genotype`, its `to_dict()`, or what
    `load_genotype` takes (a JSON path, a published name such as "darts_v2"); a ValueError
    otherwise (the networks built from CNN cells call it, so they take all of these)."""
    if isinstance(genotype, dict):
        genotype = Genotype.from_dict(genotype)
    elif isinstance(genotype, (str, pathlib.PurePath)):
        genotype = load_genotype(genotype)
    if not isinstance(genotype, Genotype) or genotype.kind != "cnn":
        raise _validation.invalid(
            "genotype", 'a CNN Genotype, its dict, a JSON path or a published '
            'name such as "darts_v2"', genotype)
    return genotype


DERIVE_STRATEGIES = ("most_probable", "sample")
# What a search run may derive with: the two above, or the paper's "sample_and_validate"
# (architectures drawn with "sample", scored on the validation split with the search
# network's shared weights, the best kept; see `training.derivation`).
SEARCH_DERIVATIONS = (*DERIVE_STRATEGIES, "sample_and_validate")
DEFAULT_EDGES_PER_NODE = {"cnn": 2, "rnn": 1}  # DARTS' cells (and the paper's Figure 3)


def derive_genotype(
    probabilities, num_samples, *, kind="cnn", primitives=None, strategy="most_probable",
    num_inputs=None, seed=0, edges_per_node="auto", preferences=None,
):
    """Turns per-edge operation probabilities into a genotype.

    Args:
        probabilities: {cell name: array [num_edges, K]} of p per edge, edges ordered as by
            `edges()`; e.g. {"normal": p_normal, "reduce": p_reduce}.
        num_samples: M, the number of samples per code during the search (any M ≥ 1).
        kind: "cnn" or "rnn".
        primitives: the K operation names (default: the kind's standard list).
        strategy: "most_probable" — each edge's exactly most probable code; or "sample" — an
            architecture drawn from the search's law: each edge's code drawn from the EGS
            law of p, each node's kept edges drawn by their strength (below).
        num_inputs: input nodes per cell (default 2 for cnn, 1 for rnn).
        seed: seeds the draws of "sample" and the tie-breaks of both strategies.
        edges_per_node: how many incoming edges each node keeps: "auto" (2 for CNN cells, 1
            for recurrent ones, as DARTS' cells and the paper's), a positive integer, or None
            to keep every edge (the whole DAG).
        preferences: {cell name: [num_edges, K]} what the search learned, h = softmax(α),
            to rank edges by (default: `probabilities`). A search passes it, so that the
            prior, which costs every edge of a cell alike, does not decide the edges.

    Which edges: an edge's strength is its largest non-`none` preference (DARTS' ranking:
    `none` is no connection). "most_probable" keeps each node's `edges_per_node` strongest
    incoming edges, exact ties broken at random by `seed` (not by input order: at α = 0
    every edge ties, and input order would keep inputs 0 and 1 in every node, a cell without
    depth); "sample" draws them without replacement with probabilities proportional to
    strength. Which operations: each kept edge keeps the non-`none` operations of its code
    (most probable or sampled), several if the code has several; a code of only `none` means
    no connection (the paper's reading), so that edge adds nothing. A node left without any
    input gets the single (operation, input) pair with the highest probability among its
    edges' non-`none` operations, so every derived cell is connected.

    Returns:
        A `Genotype` whose cells concatenate all their intermediate nodes, with the policy
        in its `derivation` record.
    """
    if kind not in CELL_NAMES:
        raise _validation.invalid("kind", f"one of {sorted(CELL_NAMES)}", kind)
    primitives = tuple(primitives or DEFAULT_PRIMITIVES[kind])
    num_samples = _validation.check_positive_int("num_samples", num_samples)
    if strategy not in DERIVE_STRATEGIES:
        raise _validation.invalid("strategy", '"most_probable" or "sample"', strategy)
    if edges_per_node == "auto":
        edges_per_node = DEFAULT_EDGES_PER_NODE[kind]
    if edges_per_node is not None:
        edges_per_node = _validation.check_positive_int("edges_per_node", edges_per_node)
    num_inputs = num_inputs or NUM_INPUTS[kind]
    rng = np.random.default_rng(seed)
    cells = {}
    for name, probs in probabilities.items():
        probs = np.asarray(probs, dtype="float64")
        num_intermediate = _intermediate_nodes(probs, num_inputs, len(primitives), name)
        ranking = probs if preferences is None else np.asarray(preferences[name], "float64")
        if ranking.shape != probs.shape:
            raise _validation.invalid(f"preferences[{name!r}]", f"an array of shape "
                                      f"{probs.shape}, as the probabilities",
                                      f"shape {ranking.shape}")
        if strategy == "most_probable":
            codes = np.asarray(code_distribution.most_probable_code(probs, num_samples))
        else:
            codes = sample_codes(probs, num_samples, rng)
        nodes = _derive_nodes(probs, codes, ranking, primitives, num_intermediate, num_inputs,
                              edges_per_node, rng, sample_edges=strategy == "sample")
        cells[name] = CellGenotype(
            nodes=nodes, concat=range(num_inputs, num_inputs + num_intermediate),
            num_inputs=num_inputs,
        )
    derivation = {"strategy": strategy, "num_samples": num_samples,
                  "edges_per_node": edges_per_node, "seed": seed,
                  "edges_ranked_by": "probabilities" if preferences is None else "alpha"}
    return Genotype(cells=cells, kind=kind, primitives=primitives, derivation=derivation)


def sample_codes(probs, num_samples, rng):
    """One EGS code per row of `probs` (`[n, K]`): the operations drawn at least once in
    `num_samples` categorical draws, exactly the law of the search's hard codes."""
    draws = np.array([rng.choice(len(row), size=num_samples, p=row / row.sum())
                      for row in probs])
    codes = np.zeros_like(probs)
    np.put_along_axis(codes, draws, 1.0, axis=-1)
    return codes


def _derive_nodes(probs, codes, ranking, primitives, num_intermediate, num_inputs,
                  edges_per_node, rng, sample_edges=False):
    """Each node's (operation, input) pairs, by the policy of `derive_genotype`."""
    others = np.array([name != NONE for name in primitives])
    all_edges = edges(num_intermediate, num_inputs)
    nodes = []
    for j in range(num_intermediate):
        incoming = [e for e, (_, node) in enumerate(all_edges) if node == num_inputs + j]
        strength = np.array([ranking[e][others].max() for e in incoming])
        if edges_per_node is not None and edges_per_node < len(incoming):
            if sample_edges:  # Gumbel-top-k: draws without replacement ∝ strength
                keys = np.log(np.maximum(strength, 1e-300)) + rng.gumbel(size=len(incoming))
                order = np.argsort(-keys, kind="stable")
            else:  # strongest first, exact ties in random order
                order = np.lexsort((rng.random(len(incoming)), -strength))
            incoming = sorted(incoming[i] for i in order[:edges_per_node])
        pairs = [(primitives[k], all_edges[e][0]) for e in incoming
                 for k in np.flatnonzero(codes[e]) if others[k]]
        if not pairs:
            pairs = [_strongest_pair(probs, primitives, j, num_intermediate, num_inputs)[:2]]
        nodes.append(pairs)
    return nodes


def genotype_codes(genotype):
    """{cell name: `[num_edges, K]` binary codes} of a genotype over its full DAG: 1 where the
    genotype has operation k on edge e (dropped edges are all zero: no connection), the
    codes a search network computes the genotype's cells with (see
    `ArchitectureSearch.fixed_architecture`).

    >>> codes = genotype_codes(published_genotype("darts_v2"))
    >>> codes["normal"].shape, int(codes["normal"].sum())
    ((14, 8), 8)
    """
    codes = {}
    for name, cell in genotype.cells.items():
        index = {edge: e for e, edge in enumerate(edges(len(cell.nodes), cell.num_inputs))}
        table = np.zeros([len(index), len(genotype.primitives)], "float32")
        for j, node in enumerate(cell.nodes):
            for op, source in node:
                table[index[source, cell.num_inputs + j], genotype.primitives.index(op)] = 1.0
        codes[name] = table
    return codes


def differing_pairs(genotype, reference):
    """The share of `genotype`'s (cell, node, operation, input) entries not in `reference`
    (0: the same cells; 1: nothing in common), counting repeated entries once each.

    >>> g = published_genotype("darts_v2")
    >>> differing_pairs(g, g)
    0.0
    """
    def entries(g):
        return {(name, j, op, i) for name, cell in g.cells.items()
                for j, node in enumerate(cell.nodes) for op, i in node}

    mine = entries(genotype)
    return len(mine - entries(reference)) / max(len(mine), 1)


def random_genotype(num_samples, *, kind="cnn", primitives=None, num_intermediate=4,
                    num_inputs=None, seed=None, name="random", edges_per_node=None):
    """A genotype drawn uniformly from the EGS search space: every edge's code is uniform over
    the Σ_{m=1}^{min(M, K)} C(K, m) codes with 1 to M operations on (`none` included, as in the
    search), conditioned on every node keeping at least one non-`none` operation (a node left
    empty has its incoming codes drawn again). The random-search baseline samples from this.
    With `edges_per_node` (as a derivation keeps), each node first picks that many of its
    incoming edges uniformly, and each picked edge's code is drawn again until it holds a
    non-`none` operation: the random cells then have the derived cells' shape.

    >>> genotype = random_genotype(num_samples=4, seed=0)
    >>> sorted(genotype.cells)
    ['normal', 'reduce']
    """
    if kind not in CELL_NAMES:
        raise _validation.invalid("kind", f"one of {sorted(CELL_NAMES)}", kind)
    primitives = tuple(primitives or DEFAULT_PRIMITIVES[kind])
    num_ops = len(primitives)
    num_samples = _validation.check_positive_int("num_samples", num_samples)
    num_intermediate = _validation.check_positive_int("num_intermediate", num_intermediate)
    if edges_per_node is not None:
        edges_per_node = _validation.check_positive_int("edges_per_node", edges_per_node)
    num_inputs = num_inputs or NUM_INPUTS[kind]
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, min(num_samples, num_ops) + 1)
    size_weights = np.array([math.comb(num_ops, m) for m in sizes], dtype="float64")

    def edge_pairs(i):
        m = rng.choice(sizes, p=size_weights / size_weights.sum())
        return [(primitives[k], i) for k in sorted(rng.choice(num_ops, size=m, replace=False))
                if primitives[k] != NONE]

    cells = {}
    for cell_name in CELL_NAMES[kind]:
        nodes = []
        for j in range(num_intermediate):
            pairs = []
            if edges_per_node is not None:
                count = min(edges_per_node, num_inputs + j)
                for i in sorted(rng.choice(num_inputs + j, size=count, replace=False)):
                    edge = []
                    while not edge:
                        edge = edge_pairs(int(i))
                    pairs += edge
            while not pairs:
                for i in range(num_inputs + j):
                    pairs += edge_pairs(i)
            nodes.append(pairs)
        cells[cell_name] = CellGenotype(
            nodes=nodes, concat=range(num_inputs, num_inputs + num_intermediate),
            num_inputs=num_inputs)
    return Genotype(cells=cells, kind=kind, primitives=primitives, name=name)


def _intermediate_nodes(probs, num_inputs, num_ops, name):
    """The number of intermediate nodes of a full DAG with `len(probs)` edges (or an error)."""
    count = 0
    while probs.ndim == 2 and len(edges(count, num_inputs)) < len(probs):
        count += 1
    if (probs.ndim != 2 or probs.shape[1] != num_ops or count == 0
            or len(edges(count, num_inputs)) != len(probs)):
        sizes = ", ".join(str(len(edges(n, num_inputs))) for n in range(1, 5))
        raise _validation.invalid(
            f"probabilities[{name!r}]",
            f"an array [num_edges, {num_ops}] with num_edges one of {sizes}, ... (a full DAG "
            f"over {num_inputs} input node(s))", f"shape {probs.shape}",
        )
    return count


def _strongest_pair(probs, primitives, j, num_intermediate, num_inputs):
    """The most probable non-none (op, input) on the edges into intermediate node j."""
    best = None
    for e, (i, node) in enumerate(edges(num_intermediate, num_inputs)):
        if node != num_inputs + j:
            continue
        for k, op in enumerate(primitives):
            if op != NONE and (best is None or probs[e, k] > best[2]):
                best = (op, i, probs[e, k])
    return best
