import pathlib

import pytest
from ml_collections import config_flags  # noqa: F401  (the trainers' dependency)

from egs_keras.runs import classification
from egs_keras.runs import language
from egs_keras.runs import tasks

# Configs of the examples (egs_keras/examples), read by their own binaries, not run configs.
EXAMPLE_CONFIGS = {"mobilenet_digits": "egs-mobilenet"}
CONFIGS = sorted(p for p in (pathlib.Path(__file__).parents[2] / "configs").glob("*.py")
                 if not p.name.startswith("_") and p.stem not in EXAMPLE_CONFIGS)


def _load(path):
    namespace = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # as config_flags does
    return namespace["get_config"]()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_is_valid_and_documented(path):
    config = tasks.validate_config(_load(path))
    text = path.read_text()
    assert text.startswith('"""') and ("egs-" in text)  # docstring with its command
    assert config.seed == 0


@pytest.mark.parametrize("name, binary", sorted(EXAMPLE_CONFIGS.items()))
def test_example_configs_load_and_name_their_binary(name, binary):
    path = pathlib.Path(__file__).parents[2] / "configs" / f"{name}.py"
    config = _load(path)
    assert path.read_text().startswith('"""') and binary in path.read_text()
    assert config.seed == 0 and config.data.name == "egs_digits"


def test_more_samples_than_operations_are_accepted():
    """M counts draws (Table 5 runs M = 8 and 9 over K = 8): any M >= 1 is valid."""
    config = classification.default_config()
    config.search.num_samples = 9
    assert tasks.validate_config(config).search.num_samples == 9
    rnn = language.default_config()
    rnn.search.num_samples = 6
    assert tasks.validate_config(rnn).search.num_samples == 6


def test_paper_settings_are_the_defaults():
    config = classification.default_config()
    assert (config.search.num_cells, config.search.filters, config.search.num_samples) == (8, 16,
                                                                                          7)
    assert (config.train.num_cells, config.train.filters, config.train.epochs) == (20, 36, 600)
    assert (config.train.auxiliary_weight, config.train.drop_path_rate) == (0.4, 0.2)


@pytest.mark.parametrize("field, value, message", [
    ("data.name", "mnist", "dataset"),
    ("search.epochs", 0, "config.search.epochs"),
    ("search.execution", "lazy", "config.search.execution"),
    ("search.effectiveness_weight", 1.5, "config.search.effectiveness_weight"),
    ("train.stem", "mobile", "config.train.stem"),
    ("train.drop_path_rate", 1.0, "config.train.drop_path_rate"),
    ("export.formats", "litert", "config.export.formats"),
    ("export.formats", "saved_model,onnx", "config.export.formats"),
    ("export.litert_quantizations", "float16", "config.export.litert_quantizations"),
    # The probe's row 10: each accepted before, one trained to loss -7.8.
    ("search.arch_learning_rate", -1.0, "config.search.arch_learning_rate"),
    ("search.learning_rate_min", 0.5, r"config.search.learning_rate_min.*\[0, config"),
    ("search.weight_decay", -1.0, "config.search.weight_decay"),
    ("data.image_size", 2, r"config.data.image_size.*>= 8"),
    ("train.label_smoothing", 5.0, "config.train.label_smoothing"),
    ("search.momentum", -5.0, "config.search.momentum"),
    ("train.momentum", 1.0, "config.train.momentum"),
    ("search.num_nodes", 3, "config.search.num_nodes"),
    ("search.probe_rate", 0.0, r"config.search.probe_rate.*\(0, 1\]"),
    ("search.prior_strength", -1.0, "config.search.prior_strength"),
    ("search.derive", "best", "sample_and_validate"),
    ("search.derive_candidates", 0, "config.search.derive_candidates"),
    ("search.num_samples", 0, "config.search.num_samples"),
])
def test_bad_fields_are_named(field, value, message):
    config = classification.default_config()
    section, name = field.split(".")
    config[section][name] = value
    with pytest.raises(ValueError, match=message):
        tasks.validate_config(config)
