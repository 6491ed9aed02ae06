"""Edge cost tables: the shapes each operation has in the search network, measured latency
cached and reused."""

import json

import numpy as np
import pytest

from egs_keras import search_space
from egs_keras.costs import edge_tables
from egs_keras.costs import measures
from egs_keras.layers import operations

PRIMITIVES = search_space.CNN_PRIMITIVES


def _parameters(name, filters, stride):
    op = operations.get_operation(name, filters, stride)
    op.build((1, 8, 8, filters))
    return sum(int(np.prod(w.shape)) for w in op.trainable_weights)


def test_parameter_tables_sum_each_edge_over_the_cells_of_its_type():
    """3 cells (normal at 4 filters, reductions at 8 and 16): a normal edge costs what its
    operation costs at 4 filters; a reduction edge the sum over both reduction cells, with
    stride 2 on the edges that leave the inputs (a factorized reduce for skip_connect)."""
    costs = edge_tables.cnn_edge_costs(PRIMITIVES, "parameters", image_shape=(16, 16, 3),
                                           filters=4, num_cells=3, num_nodes=5, batch_size=2)
    edges = search_space.edges(2)
    for e, (i, _) in enumerate(edges):
        for k, name in enumerate(PRIMITIVES):
            stride = 2 if i < 2 else 1
            normal = 0 if name == "none" else _parameters(name, 4, 1)
            reduce = 0 if name == "none" else sum(_parameters(name, f, stride) for f in (8, 16))
            assert costs["normal"][e, k] == normal, (e, name)
            assert costs["reduce"][e, k] == reduce, (e, name)
    skip = PRIMITIVES.index("skip_connect")
    assert costs["reduce"][0, skip] > 0 and costs["reduce"][2 + 2, skip] == 0  # identity


def _multiply_adds(name, shape, stride):
    op = operations.get_operation(name, shape[-1], stride)
    op.build(shape)
    return measures.count_function_multiply_adds(lambda x: op(x, training=False), shape)


def test_multiply_adds_follow_the_resolution_of_each_edge():
    costs = edge_tables.cnn_edge_costs(PRIMITIVES, "multiply_adds", image_shape=(16, 16, 3),
                                           filters=4, num_cells=3, num_nodes=5, batch_size=2)
    for name in ("sep_conv_5x5", "dil_conv_3x3", "skip_connect"):
        k = PRIMITIVES.index(name)
        # Cell 0: normal, 16×16 at 4 filters. Cells 1 and 2: reductions reading 16×16 at 8
        # filters and 8×8 at 16 at stride 2; their internal edges run at 8×8 and 4×4.
        assert costs["normal"][4, k] == _multiply_adds(name, (1, 16, 16, 4), 1)
        assert costs["reduce"][0, k] == (_multiply_adds(name, (1, 16, 16, 8), 2)
                                         + _multiply_adds(name, (1, 8, 8, 16), 2))
        assert costs["reduce"][4, k] == (_multiply_adds(name, (1, 8, 8, 8), 1)
                                         + _multiply_adds(name, (1, 4, 4, 16), 1))
    assert costs["reduce"][0, PRIMITIVES.index("sep_conv_5x5")] > 0


def test_latency_is_measured_once_kept_in_json_and_reused(tmp_path, monkeypatch):
    path = tmp_path / "latency.json"
    calls = []
    measure = edge_tables.measure_latency

    def counting(*args, **kwargs):
        calls.append(args[2])
        return measure(*args, **kwargs)

    monkeypatch.setattr(edge_tables, "measure_latency", counting)
    options = dict(image_shape=(8, 8, 1), filters=2, num_cells=2, num_nodes=5, batch_size=4)
    table = edge_tables.LatencyTable(path)
    first = edge_tables.cnn_edge_costs(PRIMITIVES, "latency", table=table, **options)
    # Cell 0 and 1 are reductions (8×8 → 4×4 at 4 filters, 4×4 → 2×2 at 8), stride 2 on the
    # edges from the inputs, stride 1 inside: 4 (shape, stride) pairs × 7 operations.
    assert len(calls) == 4 * 7
    entries = json.loads(path.read_text())["entries"]
    assert {e["op"] for e in entries} == set(PRIMITIVES) - {"none"}
    assert {(tuple(e["shape"]), e["stride"]) for e in entries} == {
        ((4, 8, 8, 4), 2), ((4, 4, 4, 4), 1), ((4, 4, 4, 8), 2), ((4, 2, 2, 8), 1)}
    assert all(e["device"].endswith("CPU:0") and e["ms"] >= 0 for e in entries)
    again = edge_tables.cnn_edge_costs(
        PRIMITIVES, "latency", table=edge_tables.LatencyTable(path), **options)
    assert len(calls) == 4 * 7  # nothing measured again: a resumed search has the same prior
    for name in first:
        np.testing.assert_array_equal(again[name], first[name])
    assert np.all(first["reduce"][:, 0] == 0)  # `none` is never computed


def test_recurrent_edge_costs():
    latency = edge_tables.rnn_edge_costs(search_space.RNN_PRIMITIVES, "latency", units=32,
                                             num_edges=3, batch_size=8)["recurrent"]
    assert latency.shape == (3, 5) and np.all(latency[:, 0] == 0) and np.all(latency[:, 1:] > 0)
    np.testing.assert_array_equal(latency[0], latency[2])
    parameters = edge_tables.rnn_edge_costs(search_space.RNN_PRIMITIVES, "parameters",
                                                units=32, num_edges=2, batch_size=8)
    assert parameters["recurrent"][1].tolist() == [0.0] + [2 * 32 * 32.0] * 4
    macs = edge_tables.rnn_edge_costs(search_space.RNN_PRIMITIVES, "multiply_adds",
                                          units=32, num_edges=1, batch_size=8)["recurrent"][0]
    assert macs.tolist() == [0.0] + [2 * 32 * 32.0] * 4  # one [1, 32] × [32, 64] product


def test_a_damaged_table_is_named_and_nothing_is_overwritten(tmp_path):
    path = tmp_path / "latency.json"
    path.write_text('{"format": 1, "entries": [{"op": ')
    with pytest.raises(ValueError, match="latency.json.*cannot be read.*Delete it"):
        edge_tables.LatencyTable(path)
    assert path.read_text().endswith('"op": ')
    with pytest.raises(ValueError, match="`op_costs`, expected one of"):
        edge_tables.cnn_edge_costs(PRIMITIVES, "flops", image_shape=(8, 8, 1), filters=2,
                                       num_cells=1, num_nodes=4, batch_size=2)


def test_the_litert_prior_times_one_inference_of_each_operation_as_deployed(tmp_path):
    path = tmp_path / "latency.csv"  # a CSV table, as a device benchmark writes one
    # Sizes where a convolution's work is several times a pooling's (at 16×16 and 16
    # channels both take ~0.01 ms and a loaded machine ordered them either way).
    options = dict(image_shape=(32, 32, 1), filters=16, num_cells=1, num_nodes=4,
                   batch_size=32, table=edge_tables.LatencyTable(path), litert_threads=1)
    costs = edge_tables.cnn_edge_costs(PRIMITIVES, "litert", **options)["reduce"]
    rows = path.read_text().splitlines()
    assert rows[0] == "kind,op,shape,stride,device,ms"
    # One reduction cell (32 filters) with one node, fed by both inputs at stride 2: one
    # example (batch 1, not the search's 32), keyed by LiteRT and its threads.
    assert {tuple(r.split(",")[2:5]) for r in rows[1:]} == {
        ("1x32x32x32", "2", "litert-cpu-1-threads")}
    by_name = dict(zip(PRIMITIVES, costs[0], strict=True))  # an edge from an input: stride 2
    assert by_name["none"] == 0
    assert by_name["sep_conv_5x5"] > by_name["sep_conv_3x3"] > by_name["max_pool_3x3"]
    # (dilated 3×3 and 5×5 differ by ~15 % only: their pointwise convolution dominates)
    assert min(by_name["dil_conv_3x3"], by_name["dil_conv_5x5"]) > by_name["max_pool_3x3"]
    again = edge_tables.LatencyTable(path)  # read back from the CSV
    np.testing.assert_array_equal(edge_tables.cnn_edge_costs(
        PRIMITIVES, "litert", **{**options, "table": again})["reduce"], costs)
    recurrent = edge_tables.rnn_edge_costs(search_space.RNN_PRIMITIVES, "litert",
                                               units=16, num_edges=2, batch_size=8)
    assert np.all(recurrent["recurrent"][:, 0] == 0) and np.all(recurrent["recurrent"][:, 1:] > 0)


def _phone_table(path):
    rows = ["kind,op,shape,stride,device,ms"] + [
        f"cnn,{name},1x8x8x4,2,pixel-7,{0.01 * (k + 1)}"
        for k, name in enumerate(PRIMITIVES[1:])]
    path.write_text("\n".join(rows) + "\n")


def test_a_table_measured_on_a_phone_is_the_prior_and_nothing_is_measured(tmp_path,
                                                                          monkeypatch):
    path = tmp_path / "phone.csv"
    _phone_table(path)
    before = path.read_bytes()
    monkeypatch.setattr(measures, "measure_litert_latency", lambda *a, **k: 1 / 0)
    options = dict(image_shape=(8, 8, 1), filters=2, num_cells=1, num_nodes=4, batch_size=4,
                   device="pixel-7")
    table = edge_tables.LatencyTable(path, measured_elsewhere=True)
    costs = edge_tables.cnn_edge_costs(PRIMITIVES, "litert", table=table, **options)
    assert costs["reduce"][0].tolist() == [0.0] + [0.01 * (k + 1) for k in range(7)]
    assert path.read_bytes() == before  # read, never written
    message = r"no entry for max_pool_3x3 \(cnn\) at shape \[1, 8, 8, 8\], stride 2, on " \
              r"device 'pixel-7' \(it holds devices \['pixel-7'\]\)"
    with pytest.raises(ValueError, match=message):
        edge_tables.cnn_edge_costs(PRIMITIVES, "litert", table=table,
                                       **{**options, "filters": 4})
    with pytest.raises(ValueError, match="does not exist"):
        edge_tables.LatencyTable(tmp_path / "missing.csv", measured_elsewhere=True)
    path.write_text("op,ms\nskip_connect,1\n")
    with pytest.raises(ValueError, match="expected the header 'kind,op,shape,stride,device,ms'"):
        edge_tables.LatencyTable(path, measured_elsewhere=True)
