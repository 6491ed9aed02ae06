"""The test tiers, defined once: Bazel's BUILD loads this list, and tests/conftest.py reads
it to mark every other test file `slow` (so `pytest -m "not slow"` runs the same fast tier as
`bazel test --test_tag_filters=-slow //...`). The fast tier: files that build no full network
and spawn no trainer process; the rest (end-to-end runs) run under `make test`."""

FAST_TESTS = [
    "tests/costs/measures_test.py",
    "tests/data/augment_test.py",
    "tests/data/image_datasets_test.py",
    "tests/data/language_modeling_test.py",
    "tests/data/text_corpora_test.py",
    "tests/layers/egs_choice_test.py",
    "tests/layers/egs_mixed_op_test.py",
    "tests/layers/egs_rnn_cell_test.py",
    "tests/layers/ensemble_gumbel_softmax_test.py",
    "tests/layers/genotype_rnn_cell_test.py",
    "tests/layers/operations_test.py",
    "tests/metrics_test.py",
    "tests/models/one_level_steps_test.py",
    "tests/ops/code_distribution_test.py",
    "tests/ops/estimator_test.py",
    "tests/ops/gating_test.py",
    "tests/ops/gumbel_test.py",
    "tests/ops/probabilities_test.py",
    "tests/package_structure_test.py",
    "tests/reliability/saved_file_format_test.py",
    "tests/runs/tasks_test.py",
    "tests/search_space_test.py",
    "tests/training/averaging_test.py",
    "tests/training/config_test.py",
    "tests/training/run_loop_test.py",
    "tests/training/strategies_test.py",
    "tests/training/temperature_test.py",
    "tests/training/workdir_test.py",
    "tests/visualize_test.py",
]
