"""Rows 2, 6 and 7 of the probe: a run refuses a changed config or genotype before it writes
anything; fields that may change on resume are recorded with the epoch they apply from."""

import json

import pytest

from egs_keras import search_space
from egs_keras.runs import classification
from egs_keras.training.workdir import run_acceptance


@pytest.fixture
def started(tmp_path):
    """A directory whose run started with the default config and has a checkpoint of
    epoch 3."""
    config = classification.default_config()
    run_acceptance.accept_config(config, tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "ckpt-3.index").write_bytes(b"")
    return config, tmp_path


@pytest.mark.parametrize("field, value", [
    ("search.filters", 8), ("search.num_cells", 5), ("search.num_nodes", 5),
    ("search.num_samples", 4), ("seed", 1), ("data.image_size", 16),
    ("search.execution", "sparse"), ("search.search_mode", "bilevel"),
    ("data.name", "egs_digits"), ("search.primitives", ["none", "skip_connect"]),
])
def test_a_change_to_the_model_data_or_search_is_refused_before_writing(started, field, value):
    config, directory = started
    before = (directory / "config.json").read_bytes()
    section, _, name = field.rpartition(".")
    (config[section] if section else config)[name] = value
    with pytest.raises(run_acceptance.RunMismatchError) as error:
        run_acceptance.accept_config(config, directory)
    message = str(error.value)
    assert f"  {field}: " in message and repr(value) in message and "--workdir" in message
    assert (directory / "config.json").read_bytes() == before
    assert not (directory / run_acceptance.CHANGES_NAME).exists()


def test_more_epochs_are_accepted_and_recorded_from_the_epoch_they_apply(started):
    config, directory = started
    config.search.epochs = 80
    assert run_acceptance.accept_config(config, directory) == ["search.epochs"]
    assert json.loads((directory / "config.json").read_text())["search"]["epochs"] == 80
    changes = json.loads((directory / run_acceptance.CHANGES_NAME).read_text())
    assert changes == [{"field": "search.epochs", "old": 50, "new": 80, "from_epoch": 3}]


def test_what_to_export_may_change_and_a_config_without_the_section_resumes(started):
    config, directory = started
    config.export.formats = "saved_model,litert"
    config.export.litert_quantizations = "int8"
    assert run_acceptance.accept_config(config, directory) == [
        "export.formats", "export.litert_quantizations"]
    older = classification.default_config()  # a run started before the export section existed
    del older["export"]
    run_acceptance.accept_config(older, directory)


def test_a_run_recorded_under_the_old_task_id_resumes_under_the_new_name(started):
    config, directory = started
    recorded = json.loads((directory / "config.json").read_text())
    recorded["task"] = "cnn"  # how runs before the task names were recorded
    (directory / "config.json").write_text(json.dumps(recorded))
    assert run_acceptance.accept_config(config, directory) == []
    config.task = "language"  # another task is a different run
    with pytest.raises(run_acceptance.RunMismatchError, match="task"):
        run_acceptance.accept_config(config, directory)


def test_a_directory_without_results_takes_the_new_config(tmp_path):
    config = classification.default_config()
    run_acceptance.accept_config(config, tmp_path)
    config.search.filters = 8  # the first run stopped before any epoch: nothing to lose
    run_acceptance.accept_config(config, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["search"]["filters"] == 8


def test_another_genotype_is_refused_once_training_has_results(tmp_path):
    run_acceptance.accept_genotype(search_space.published_genotype("darts_v2"), tmp_path)
    before = (tmp_path / "genotype.json").read_bytes()
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(run_acceptance.RunMismatchError, match="another genotype"):
        run_acceptance.accept_genotype(search_space.published_genotype("darts_v1"), tmp_path)
    assert (tmp_path / "genotype.json").read_bytes() == before
    run_acceptance.accept_genotype(search_space.published_genotype("darts_v2"), tmp_path)
