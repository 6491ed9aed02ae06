"""The costs behind a search's efficiency prior, from its config: `config.search.op_costs` is
"" (no prior), K comma-separated numbers, or a measure of `costs.measures`
("latency", the paper's; "parameters"; "multiply_adds"; "litert", LiteRT inference with
`config.search.litert_threads` threads), which becomes one `[num_edges, K]` table per cell
type, measured at the shapes the operations have in this search network. Latencies are kept
in `<workdir>/latency.json` (or the file named by `config.search.latency_table`), so a
resumed search reuses them; with `config.search.latency_device` that file is a table measured
on that device (a phone), read and never measured into.

>>> op_costs = resolve_op_costs(config, workdir, strategy)        # doctest: +SKIP
>>> derived_cost(genotype, op_costs)                              # doctest: +SKIP
"""

import pathlib

import numpy as np
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.costs import edge_tables
from egs_keras.costs import measures

LATENCY_FILE = "latency.json"
LOG_NAMES = {"latency": "derived_latency_ms", "parameters": "derived_parameters",
             "multiply_adds": "derived_multiply_adds", "litert": "derived_litert_ms"}


def resolve_op_costs(config, workdir=None, strategy=None, *, edge_costs):
    """The `op_costs` of `config`'s search network: None, K numbers, or {cell type:
    `[num_edges, K]` nested lists} for a measure (the latency table in `workdir`, or in
    memory without one; measured on `strategy`'s first device with its per-replica batch,
    and averaged over the workers of a multi-worker cluster so that all use one prior).
    `edge_costs(config, measure, batch_size=, device=, table=)` measures the tables of the
    task's search network (e.g. `classification.edge_costs`)."""
    search = config.search
    costs = search.op_costs
    if costs is None or (isinstance(costs, str) and not costs.strip()):
        return None
    if isinstance(costs, (list, tuple)):
        return [float(c) for c in costs]
    if costs not in measures.MEASURES:
        try:
            return [float(c) for c in costs.split(",")]
        except ValueError:
            raise _validation.invalid(
                "config.search.op_costs", f"one of {list(measures.MEASURES)}, "
                "comma-separated numbers (one per operation) or '' (no prior)", costs) from None
    strategy = strategy or tf.distribute.get_strategy()
    batch_size = max(search.batch_size // strategy.num_replicas_in_sync, 1)
    elsewhere = search.get("latency_device", "")  # a table measured on that device
    table = edge_tables.LatencyTable(latency_path(config, workdir),
                                         measured_elsewhere=bool(elsewhere))
    threads = search.get("litert_threads", 1)
    device = elsewhere or (edge_tables.measurement_device(costs, strategy, threads)
                           if costs in measures.MEASURED else None)
    tables = edge_costs(config, costs, batch_size=batch_size, device=device, table=table,
                        litert_threads=threads)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        tables = _mean_over_workers(tables, strategy)
    return {name: np.asarray(t, "float64").tolist() for name, t in tables.items()}


def latency_path(config, workdir=None):
    """Where a search keeps its latency table: `config.search.latency_table`, or
    `<workdir>/latency.json` (None: in memory)."""
    shared = config.search.get("latency_table", "")
    if shared:
        return pathlib.Path(shared)
    return None if workdir is None else pathlib.Path(workdir) / LATENCY_FILE


def share_latency_table(config, directory):
    """Points `config`'s search (and a segmentation config's cell search) at
    `<directory>/latency.json` unless it names a table already; returns `config`. Tuners give
    all their searches one table: each operation is measured once, and every trial searches
    with the same prior."""
    search = config.cell_search.search if "cell_search" in config else config.search
    if not search.get("latency_table", ""):
        search.latency_table = str(pathlib.Path(directory) / LATENCY_FILE)
    return config


def _mean_over_workers(tables, strategy):
    names = sorted(tables)
    stacked = tf.constant(np.stack([tables[n] for n in names]), tf.float64)
    mean = strategy.reduce(tf.distribute.ReduceOp.MEAN,
                           strategy.run(lambda: tf.identity(stacked)), axis=None)
    return dict(zip(names, mean.numpy(), strict=True))


def derived_cost(genotype, op_costs):
    """The cost of a derived genotype by the search's tables: Σ over its cells' (operation,
    input) pairs of the pair's edge cost (summed over the search network's cells of each
    type), e.g. the forward + backward milliseconds its cells would take in the search
    network. `op_costs` as `resolve_op_costs` returns it (a table per cell type)."""
    total = 0.0
    for name, cell in genotype.cells.items():
        table = np.asarray(op_costs[name])
        index = {edge: e for e, edge in enumerate(
            search_space.edges(len(cell.nodes), cell.num_inputs))}
        for j, node in enumerate(cell.nodes):
            for op, source in node:
                row = table[index[source, cell.num_inputs + j]] if table.ndim == 2 else table
                total += float(row[genotype.primitives.index(op)])
    return total
