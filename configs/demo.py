"""Demo: the whole pipeline on the bundled handwritten digits, on a laptop CPU.

    egs-pipeline --config=configs/demo.py --workdir=runs/demo      (or: make demo)

Hardware: 2 CPU cores, no GPU, no network. Time: a few minutes (README, "The two commands").
Search: 3 cells of 8 filters at 16×16, M = 4, dense execution, 6 epochs on 750 digits (α on
the other 750 in validation), with the paper's recipe: the latency prior at λ = 0.5 (each
operation timed on this machine first, in runs/demo/search/latency.json), coupled weight
decay, two edges per node in the derived cells; training: 3 cells of 12 filters for 10
epochs on 1,500 digits; export: the SavedModel and LiteRT files (float32, dynamic-range,
int8). Expected: test accuracy above 90 % on the 297 held-out digits (chance: 10 %).
"""

from egs_keras.runs import classification


def get_config():
    config = classification.default_config()
    config.data.name = "egs_digits"
    config.data.image_size = 16

    config.search.epochs = 6
    config.search.batch_size = 32
    config.search.filters = 8
    config.search.num_cells = 3
    config.search.num_samples = 4
    config.search.temperature_start = 3.0
    # DARTS' 3e-4 is meant for ~20,000 steps; this search has 138, so α gets a larger step.
    config.search.arch_learning_rate = 0.03
    config.search.graph_optimizer = False  # a short run: start fast (docs/benchmarks.md)

    config.train.epochs = 10
    config.train.graph_optimizer = False  # as the search: a short run starts fast
    config.train.batch_size = 32
    config.train.filters = 12
    config.train.num_cells = 3
    config.train.drop_path_rate = 0.1
    config.train.learning_rate = 0.05

    # Beside the SavedModel: LiteRT files (float32, dynamic-range and int8 calibrated on the
    # training digits), with their sizes and latencies printed next to the SavedModel's.
    config.export.formats = "saved_model,litert"
    return config
