"""What each candidate operation costs on each edge of a search cell: the paper's efficiency
credit l, from the operations' costs at search time.

`cnn_edge_costs` gives one `[num_edges, K]` table per cell type of an `EGSSearchNetwork`:
operation k on edge e, summed over the network's cells of that type, each at the shape it
has there (filters, resolution, stride, batch), so an operation costs more on the stride-2
edges of a reduction cell and in the early, large cells. `rnn_edge_costs` does the same for
the recurrent cell. Measures (`MEASURES`):

* "latency": milliseconds of one forward + backward pass (gradients for the input and the
  weights, as in a training step) on the run's device, the median of repeated runs after
  warm-up, minus the same harness around no operation. The paper's choice. Measurements are
  kept in a `LatencyTable` (JSON in the run's directory), so a resumed search reuses the same
  prior instead of re-measuring a slightly different one;
* "parameters": trainable weights of the operation in an evaluation network;
* "multiply_adds": multiply-adds of one forward pass on one example.

`none` costs 0 (it is never computed).

>>> costs = cnn_edge_costs(CNN_PRIMITIVES, "parameters", image_shape=(16, 16, 3), filters=4,
...                        num_cells=3, num_nodes=5, batch_size=8)
>>> costs["normal"].shape, costs["reduce"].shape
((5, 8), (5, 8))
"""

import json
import math
import pathlib

import numpy as np
import tensorflow as tf

from egs_keras import cost_measures
from egs_keras import file_locks
from egs_keras import record_files
from egs_keras import search_space
from egs_keras.layers import highway_cell
from egs_keras.layers import operations
from egs_keras.models.search_network import CELL_TYPES
from egs_keras.models.search_network import cell_plan

MEASURES = cost_measures.MEASURES
measure_latency = cost_measures.measure_latency  # a module name, so tests can count calls
CNN_PRIMITIVES = search_space.CNN_PRIMITIVES
TABLE_FORMAT = 1


class LatencyTable:
    """Measured latencies, {(cell kind, operation, input shape, stride, device): ms}, kept in
    a JSON file: `entries` of {"kind", "op", "shape", "stride", "device", "ms"}.

    Args:
        path: the JSON file (read if it exists; `save()` writes it atomically), or None to
            keep the table in memory.
    """

    def __init__(self, path=None):
        self.path = None if path is None else pathlib.Path(path)
        self.entries = self._read() if self.path is not None else {}

    def _read(self):
        """The file's entries ({} if there is no file); a clear error naming the file and
        the entry if it is damaged or holds a latency that is not a finite number >= 0."""
        if not self.path.exists():
            return {}
        entries = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for index, entry in enumerate(data["entries"]):
                key = _key(entry["kind"], entry["op"], entry["shape"], entry["stride"],
                           entry["device"])
                ms = entry["ms"]
                if (isinstance(ms, bool) or not isinstance(ms, (int, float))
                        or not math.isfinite(ms) or ms < 0):
                    raise ValueError(f"entry {index} ({entry['op']} at {entry['shape']}) has "
                                     f"ms={ms!r}, expected a finite number >= 0")
                entries[key] = float(ms)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise ValueError(
                f"The latency table {str(self.path)!r} cannot be read ({error}). Delete it "
                "to measure again (the search's prior then changes slightly), or restore "
                "it from a copy.") from None
        return entries

    def lookup(self, kind, op, shape, stride, device, measure):
        """The stored latency, or `measure()` (ms) stored now, rounded to 0.1 µs as the file
        keeps it (a resumed run then sees the very same numbers)."""
        key = _key(kind, op, shape, stride, device)
        if key not in self.entries:
            self.entries[key] = round(float(measure()), 4)
        return self.entries[key]

    def save(self):
        """Writes the table, merged with what the file holds now: under a lock on
        `.<name>.lock` beside it, the file is read again and its entries kept (another run
        sharing the table may have added some since; an entry both measured keeps the
        file's value, which that run already uses), then replaced atomically."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_locks.exclusive(self.path.parent / f".{self.path.name}.lock"):
            self.entries.update(self._read())
            self._write()

    def _write(self):
        entries = [json.dumps({"kind": k, "op": o, "shape": list(s), "stride": st,
                               "device": d, "ms": ms})
                   for (k, o, s, st, d), ms in sorted(self.entries.items())]
        text = (f'{{"format": {TABLE_FORMAT}, "unit": "ms, forward + backward",\n'
                ' "entries": [\n  ' + ",\n  ".join(entries) + "\n]}\n")
        record_files.atomic_write_text(self.path, text)


def _key(kind, op, shape, stride, device):
    return (str(kind), str(op), tuple(int(d) for d in shape), int(stride), str(device))


def default_device(strategy=None):
    """The device a run's operations execute on: the first of `strategy`'s devices (without
    a strategy, where TensorFlow places them: the first GPU, else the CPU)."""
    strategy = strategy or tf.distribute.get_strategy()
    try:
        device = strategy.extended.worker_devices[0]
    except RuntimeError:  # the default strategy has no device list
        device = (tf.config.list_logical_devices("GPU")
                  or tf.config.list_logical_devices("CPU"))[0].name
    if "TPU" in device.upper():
        raise ValueError(
            f"Received a strategy on {device}; latency is measured by running each operation "
            "on its own, which a TPU does not do eagerly. Measure on the TPU host's "
            'accelerator elsewhere, or use op_costs="parameters" or "multiply_adds".')
    return tf.DeviceSpec.from_string(device).to_string()


def cnn_edge_costs(primitives, measure, *, image_shape, filters, num_cells, num_nodes,
                   batch_size, device=None, table=None):
    """{"normal": costs, "reduce": costs}, `[num_edges, K]` float64 arrays: the cost of
    operation k on edge e summed over the search network's cells of that type (`measure` as
    in the module docstring; `batch_size` is the per-replica batch; `table` a
    `LatencyTable`, in memory by default)."""
    cost_measures.check_measure(measure)
    primitives = operations.check_operation_names(primitives)
    table = table or LatencyTable()
    device = device or default_device()
    num_intermediate = num_nodes - 3
    edges = search_space.edges(num_intermediate)
    costs = {t: np.zeros([len(edges), len(primitives)]) for t in CELL_TYPES}
    known = {}
    for reduction, cell_filters, side in cell_plan(image_shape, filters, num_cells):
        out_side = tuple(-(-d // 2) for d in side) if reduction else side
        for e, (i, _) in enumerate(edges):
            stride = 2 if reduction and i < 2 else 1
            shape = (batch_size, *(side if i < 2 else out_side), cell_filters)
            for k, name in enumerate(primitives):
                if (name, shape, stride) not in known:
                    known[name, shape, stride] = _cnn_operation_cost(
                        name, shape, stride, measure, device, table)
                costs["reduce" if reduction else "normal"][e, k] += known[name, shape, stride]
    table.save()
    return costs


def _cnn_operation_cost(name, shape, stride, measure, device, table):
    if name == search_space.NONE:
        return 0.0
    if measure == "latency":
        def run():
            op = operations.get_operation(name, shape[-1], stride, search=True)
            with tf.device(device):
                op.build(shape)
            return measure_latency(lambda x: op(x, training=True), op.trainable_weights, shape,
                                   device=device)

        return table.lookup("cnn", name, shape, stride, device, run)
    op = operations.get_operation(name, shape[-1], stride, search=False)
    op.build(shape)
    if measure == "parameters":
        return float(sum(np.prod(w.shape) for w in op.trainable_weights))
    return float(cost_measures.count_function_multiply_adds(
        lambda x: op(x, training=False), (1, *shape[1:])))


def rnn_edge_costs(primitives, measure, *, units, num_edges, batch_size, device=None,
                   table=None):
    """{"recurrent": costs}, `[num_edges, K]`: the cost of activation k on an edge of the
    recurrent search cell, i.e. of the highway s + σ(c̃) ⊙ (f_k(g) − s) with [c̃, g] = s·W
    for a `[batch_size, units]` state (the same on every edge; `none` costs 0)."""
    cost_measures.check_measure(measure)
    primitives = highway_cell.check_activation_names(primitives)
    table = table or LatencyTable()
    device = device or default_device()
    row = [_rnn_activation_cost(name, units, batch_size, measure, device, table)
           for name in primitives]
    table.save()
    return {"recurrent": np.tile(np.asarray(row, "float64"), [num_edges, 1])}


def _rnn_activation_cost(name, units, batch_size, measure, device, table):
    if name == search_space.NONE:
        return 0.0
    if measure == "parameters":  # the node's matrix, which any activation on the edge uses
        return float(2 * units * units)
    activation = highway_cell.ACTIVATIONS[name]

    def edge(kernel):
        def highway(state):
            gate, candidate = tf.split(tf.matmul(state, kernel), 2, -1)
            return state + tf.sigmoid(gate) * (activation(candidate) - state)

        return highway

    if measure == "multiply_adds":
        kernel = tf.zeros([units, 2 * units])
        return float(cost_measures.count_function_multiply_adds(edge(kernel), (1, units)))

    def run():
        with tf.device(device):
            kernel = tf.Variable(tf.random.stateless_normal([units, 2 * units], [0, 1]))
        return measure_latency(edge(kernel), [kernel], (batch_size, units), device=device)

    return table.lookup("rnn", name, (batch_size, units), 1, device, run)
