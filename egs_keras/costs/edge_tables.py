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
* "multiply_adds": multiply-adds of one forward pass on one example;
* "litert": milliseconds of one inference on one example (batch 1) of the operation as an
  evaluation network has it, converted to LiteRT and run in LiteRT's interpreter
  (`measures.measure_litert_latency`; the table's device names the runtime and its
  threads): what the deployed network pays.

A `LatencyTable` given a `device` measured elsewhere (e.g. a phone) is read, never measured
into: an operation it lacks is an error naming the operation and the shape. `none` costs 0
(it is never computed).

>>> costs = cnn_edge_costs(search_space.CNN_PRIMITIVES, "parameters",
...                        image_shape=(16, 16, 3), filters=4, num_cells=3, num_nodes=5,
...                        batch_size=8)
>>> costs["normal"].shape, costs["reduce"].shape
((5, 8), (5, 8))
"""

import csv
import io
import json
import math
import pathlib

import numpy as np
import tensorflow as tf

from egs_keras import file_locks
from egs_keras import record_files
from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.layers import highway_cell
from egs_keras.layers import operations
from egs_keras.models.search_network import CELL_TYPES
from egs_keras.models.search_network import cell_plan

measure_latency = measures.measure_latency  # a module name, so tests can count calls
TABLE_FORMAT = 1


class LatencyTable:
    """Measured latencies, {(cell kind, operation, input shape, stride, device): ms}, kept in
    a JSON file (`entries` of {"kind", "op", "shape", "stride", "device", "ms"}) or a CSV file
    (the columns kind, op, shape, stride, device, ms; shape as 1x16x16x8): docs/litert.md,
    "Latency tables".

    Args:
        path: the JSON or `.csv` file (read if it exists; `save()` writes it atomically), or
            None to keep the table in memory.
        measured_elsewhere: True for a table measured on another device (a phone): its
            entries are looked up under their own device name and nothing is measured here;
            a missing entry is a ValueError naming it.
    """

    def __init__(self, path=None, measured_elsewhere=False):
        self.path = None if path is None else pathlib.Path(path)
        self.measured_elsewhere = measured_elsewhere
        if measured_elsewhere and (self.path is None or not self.path.is_file()):
            raise ValueError(
                f"Received latency_device for the latency table {str(self.path)!r}, which "
                "does not exist. Expected a table measured on that device (JSON or CSV, "
                "docs/litert.md, Latency tables); leave latency_device empty to measure here.")
        self.entries = self._read() if self.path is not None else {}

    def _read(self):
        """The file's entries ({} if there is no file); a clear error naming the file and
        the entry if it is damaged or holds a latency that is not a finite number >= 0."""
        if not self.path.exists():
            return {}
        entries = {}
        try:
            text = self.path.read_text(encoding="utf-8")
            rows = (_csv_entries(text) if self.path.suffix == ".csv"
                    else json.loads(text)["entries"])
            for index, entry in enumerate(rows):
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

    def devices(self):
        """The device names the table holds entries for."""
        return sorted({key[-1] for key in self.entries})

    def lookup(self, kind, op, shape, stride, device, measure):
        """The stored latency, or `measure()` (ms) stored now, rounded to 0.1 µs as the file
        keeps it (a resumed run then sees the very same numbers)."""
        key = _key(kind, op, shape, stride, device)
        if key not in self.entries and self.measured_elsewhere:
            raise ValueError(
                f"The latency table {str(self.path)!r} has no entry for {op} ({kind}) at "
                f"shape {list(key[2])}, stride {stride}, on device {device!r} (it holds "
                f"devices {self.devices()}). Measure that operation on the device and add "
                "the row (docs/litert.md, Latency tables), or set latency_device to one of "
                "the table's devices.")
        if key not in self.entries:
            self.entries[key] = round(float(measure()), 4)
        return self.entries[key]

    def save(self):
        """Writes the table, merged with what the file holds now: under a lock on
        `.<name>.lock` beside it, the file is read again and its entries kept (another run
        sharing the table may have added some since; an entry both measured keeps the
        file's value, which that run already uses), then replaced atomically."""
        if self.path is None or self.measured_elsewhere:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_locks.exclusive(self.path.parent / f".{self.path.name}.lock"):
            self.entries.update(self._read())
            self._write()

    def _write(self):
        rows = sorted(self.entries.items())
        if self.path.suffix == ".csv":
            text = CSV_HEADER + "\n" + "".join(
                f"{k},{o},{'x'.join(map(str, s))},{st},{d},{ms}\n"
                for (k, o, s, st, d), ms in rows)
        else:
            entries = [json.dumps({"kind": k, "op": o, "shape": list(s), "stride": st,
                                   "device": d, "ms": ms}) for (k, o, s, st, d), ms in rows]
            text = (f'{{"format": {TABLE_FORMAT}, "unit": "ms (latency: forward + backward; '
                    'litert: one inference)",\n "entries": [\n  ' + ",\n  ".join(entries)
                    + "\n]}\n")
        record_files.atomic_write_text(self.path, text)


CSV_HEADER = "kind,op,shape,stride,device,ms"


def _csv_entries(text):
    """The rows of a CSV latency table as entries ({"kind", ..., "ms"})."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != CSV_HEADER.split(","):
        raise ValueError(f"expected the header {CSV_HEADER!r}, got {reader.fieldnames}")
    return [{**row, "shape": [int(d) for d in row["shape"].split("x")],
             "stride": int(row["stride"]), "ms": float(row["ms"])} for row in reader]


def _key(kind, op, shape, stride, device):
    return (str(kind), str(op), tuple(int(d) for d in shape), int(stride), str(device))


def measurement_device(measure, strategy=None, litert_threads=1):
    """The device name a latency table keys `measure`'s entries by: for "litert" LiteRT on
    this machine's CPU with its threads ("litert-cpu-2-threads"), else
    `default_device(strategy)`."""
    if measure == "litert":
        return f"litert-cpu-{int(litert_threads)}-threads"
    return default_device(strategy)


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
                   batch_size, device=None, table=None, litert_threads=1):
    """{"normal": costs, "reduce": costs}, `[num_edges, K]` float64 arrays: the cost of
    operation k on edge e summed over the search network's cells of that type (`measure` as
    in the module docstring; `batch_size` is the per-replica batch; `table` a
    `LatencyTable`, in memory by default; `device` the table's device name, by default this
    machine's (`measurement_device`); `litert_threads` LiteRT's threads for "litert")."""
    measures.check_measure(measure)
    primitives = operations.check_operation_names(primitives)
    table = table or LatencyTable()
    device = device or measurement_device(measure, litert_threads=litert_threads)
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
                        name, shape, stride, measure, device, table, litert_threads)
                costs["reduce" if reduction else "normal"][e, k] += known[name, shape, stride]
    table.save()
    return costs


def _cnn_operation_cost(name, shape, stride, measure, device, table, litert_threads):
    if name == search_space.NONE:
        return 0.0
    if measure == "litert":  # inference of one example, as deployed
        one = (1, *shape[1:])

        def run():
            op = operations.get_operation(name, shape[-1], stride, search=False)
            op.build(one)
            return measures.measure_litert_latency(lambda x: op(x, training=False), one,
                                                        litert_threads)

        return table.lookup("cnn", name, one, stride, device, run)
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
    return float(measures.count_function_multiply_adds(
        lambda x: op(x, training=False), (1, *shape[1:])))


def rnn_edge_costs(primitives, measure, *, units, num_edges, batch_size, device=None,
                   table=None, litert_threads=1):
    """{"recurrent": costs}, `[num_edges, K]`: the cost of activation k on an edge of the
    recurrent search cell, i.e. of the highway s + σ(c̃) ⊙ (f_k(g) − s) with [c̃, g] = s·W
    for a `[batch_size, units]` state (the same on every edge; `none` costs 0)."""
    measures.check_measure(measure)
    primitives = highway_cell.check_activation_names(primitives)
    table = table or LatencyTable()
    device = device or measurement_device(measure, litert_threads=litert_threads)
    row = [_rnn_activation_cost(name, units, batch_size, measure, device, table,
                                litert_threads) for name in primitives]
    table.save()
    return {"recurrent": np.tile(np.asarray(row, "float64"), [num_edges, 1])}


def _rnn_activation_cost(name, units, batch_size, measure, device, table, litert_threads):
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
        return float(measures.count_function_multiply_adds(edge(kernel), (1, units)))
    if measure == "litert":
        def deployed():
            kernel = tf.random.stateless_normal([units, 2 * units], [0, 1])
            return measures.measure_litert_latency(edge(kernel), (1, units),
                                                        litert_threads)

        return table.lookup("rnn", name, (1, units), 1, device, deployed)

    def run():
        with tf.device(device):
            kernel = tf.Variable(tf.random.stateless_normal([units, 2 * units], [0, 1]))
        return measure_latency(edge(kernel), [kernel], (batch_size, units), device=device)

    return table.lookup("rnn", name, (batch_size, units), 1, device, run)
