"""A search config's cost prior: measures, numbers, the latency table of the run, the cost of
a derived genotype."""

import json

import numpy as np
import pytest

from egs_keras import search_space
from egs_keras.costs import prior
from egs_keras.runs import classification
from egs_keras.runs import tasks


def _config(**search):
    config = classification.default_config()
    config.data.name = "egs_digits"
    config.data.image_size = 8
    config.search.update(dict(filters=2, num_cells=2, num_nodes=4, batch_size=4, **search))
    return tasks.validate_config(config)


def test_no_prior_numbers_and_tables():
    assert classification.op_costs_of(_config(op_costs="")) is None
    numbers = classification.op_costs_of(_config(op_costs="0,0,0,0,4,8,3,5"))
    assert numbers == [0, 0, 0, 0, 4, 8, 3, 5]
    tables = classification.op_costs_of(_config(op_costs="parameters"))
    assert sorted(tables) == ["normal", "reduce"]
    assert np.asarray(tables["reduce"]).shape == (2, 8)


def test_a_resumed_search_reuses_its_latency_table(tmp_path):
    config = _config(op_costs="latency")
    first = classification.op_costs_of(config, tmp_path)
    table = tmp_path / prior.LATENCY_FILE
    stamp = table.stat().st_mtime_ns
    assert classification.op_costs_of(config, tmp_path) == first
    assert table.stat().st_mtime_ns >= stamp
    shared = prior.share_latency_table(_config(op_costs="latency"), tmp_path / "tuner")
    assert shared.search.latency_table == str(tmp_path / "tuner" / "latency.json")
    assert prior.latency_path(shared, tmp_path) == tmp_path / "tuner" / "latency.json"


def test_a_search_can_target_a_device_by_its_table(tmp_path):
    """A workstation searching for a phone: the config names the phone's table and device;
    the phone's numbers are the prior, and a shape the phone was not measured at is named."""
    here = classification.op_costs_of(_config(op_costs="litert"), tmp_path)
    phone = tmp_path / "phone.csv"
    rows = (tmp_path / prior.LATENCY_FILE).read_text()
    lines = ["kind,op,shape,stride,device,ms"]
    for entry in json.loads(rows)["entries"]:
        lines.append(f"{entry['kind']},{entry['op']},{'x'.join(map(str, entry['shape']))},"
                     f"{entry['stride']},pixel-7,{10 * entry['ms']}")
    phone.write_text("\n".join(lines) + "\n")
    config = _config(op_costs="litert", latency_table=str(phone), latency_device="pixel-7")
    tables = classification.op_costs_of(config, tmp_path / "search")
    for name in here:
        np.testing.assert_allclose(tables[name], 10 * np.asarray(here[name]), rtol=1e-6)
    assert not (tmp_path / "search").exists()  # nothing measured, nothing written
    config.search.filters = 4
    with pytest.raises(ValueError, match="no entry for .* on device 'pixel-7'"):
        classification.op_costs_of(config)
    with pytest.raises(ValueError, match="config.search.latency_device"):
        _config(op_costs="parameters", latency_table=str(phone), latency_device="pixel-7")
    with pytest.raises(ValueError, match="config.search.latency_device"):
        _config(op_costs="litert", latency_device="pixel-7")  # which table?


def test_bad_op_costs_are_named():
    with pytest.raises(ValueError, match="config.search.op_costs.*one of"):
        _config(op_costs="flops")
    with pytest.raises(ValueError, match="config.search.op_costs.*8 costs"):
        _config(op_costs="1,2,3")


def test_the_cost_of_a_derived_genotype_sums_its_pairs_edge_costs():
    edges = search_space.edges(2)  # (0,2) (1,2) (0,3) (1,3) (2,3)
    table = np.arange(5 * 8, dtype="float64").reshape(5, 8)
    cell = search_space.CellGenotype(nodes=[[("sep_conv_3x3", 1)],
                                            [("skip_connect", 0), ("max_pool_3x3", 2)]],
                                     concat=[2, 3])
    genotype = search_space.Genotype(cells={"normal": cell, "reduce": cell})
    primitives = search_space.CNN_PRIMITIVES
    expected = (table[edges.index((1, 2)), primitives.index("sep_conv_3x3")]
                + table[edges.index((0, 3)), primitives.index("skip_connect")]
                + table[edges.index((2, 3)), primitives.index("max_pool_3x3")])
    assert prior.derived_cost(genotype, {"normal": table, "reduce": 2 * table}) == \
        3 * expected
