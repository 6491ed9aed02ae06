"""The task registry and its contract: every task is one `Task` value with its defaults and
checks, configs naming the earlier ids still load, and a new task is one registry entry."""

import dataclasses

import pytest

from egs_keras import search_space
from egs_keras.runs import tasks
from egs_keras.runs.task_contract import Task
from egs_keras.runs.task_contract import Tuning


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_each_task_is_registered_under_its_name_and_its_defaults_are_valid(name):
    task = tasks.TASKS[name]
    assert isinstance(task, Task) and task.name == name
    config = task.default_config()
    assert config.task == name
    assert tasks.task_of(config) is task
    assert tasks.validate_config(config) is config
    fields = {f.name for f in dataclasses.fields(Task)} - {"name", "count", "tuning", "aliases"}
    assert all(callable(getattr(task, field)) for field in fields)


@pytest.mark.parametrize("old, new", [("cnn", "classification"), ("rnn", "language")])
def test_configs_naming_the_earlier_ids_still_load(old, new):
    config = tasks.default_config(new)
    config.task = old
    assert tasks.task_of(config).name == new
    assert tasks.validate_config(config).task == old  # the config is not rewritten
    assert tasks.task_of({}).name == "classification"  # no task field: the first task


def test_an_unknown_task_is_named_with_the_tasks_and_the_old_ids():
    with pytest.raises(ValueError, match=r"config\.task.*\['classification', 'language', "
                                         r"'segmentation'\], got 'detection'.*\['cnn', 'rnn'\]"):
        tasks.validate_config({"task": "detection"})


def test_what_a_task_cannot_do_is_said_by_name():
    language = tasks.default_config("language")
    with pytest.raises(ValueError, match="counts its network without data.*vocabulary"):
        tasks.count_network(language, "darts_rnn_v2")
    with pytest.raises(ValueError, match="tuning scores.*cell_search"):
        tasks.tuning_of(tasks.default_config("segmentation"))
    assert tasks.tuning_of(language).objective == ("val_perplexity", "min")


def test_a_new_task_is_one_registry_entry(monkeypatch, tmp_path):
    calls = []
    base = tasks.default_config("classification")

    def default_config():
        config = base.copy_and_resolve_references()
        config.task = "detection"
        return config

    def record(name, result):
        return lambda *args: calls.append((name, args)) or result

    genotype = search_space.published_genotype("darts_v2")
    detection = Task(
        name="detection", default_config=default_config, validate=record("validate", None),
        data_sets=lambda config: [], search=record("search", genotype),
        train=record("train", {"map": 0.5}), rebuild=record("rebuild", None),
        export=record("export", None), litert_signature=record("litert", None),
        count=record("count", {"parameters": 1}),
        tuning=Tuning(("val_map", "max"), record("score", None), record("random", None)))
    monkeypatch.setitem(tasks.TASKS, "detection", detection)
    config = tasks.default_config("detection")
    tasks.validate_config(config)
    assert tasks.run_search(config, tmp_path / "search") is genotype
    assert tasks.run_training(config, tmp_path / "train", genotype) == {"map": 0.5}
    assert tasks.count_network(config, genotype) == {"parameters": 1}
    assert tasks.tuning_of(config).objective == ("val_map", "max")
    assert [name for name, _ in calls] == ["validate", "search", "train", "count"]
    assert calls[1][1] == (config, tmp_path / "search", "default")
