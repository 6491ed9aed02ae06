"""CIFAR-10 cell search with M = 4 (paper Table 5 sweeps M = 1..9), otherwise as M = 7
(configs/cifar10_search_m7.py: the latency prior at λ = 0.5, coupled weight decay, no
cutout, two edges per node).

    egs-search --config=configs/cifar10_search_m4.py --workdir=runs/cifar10_search_m4

Hardware and time: as configs/cifar10_search_m7.py. Sparse execution runs the active
operations and probes a quarter of the others, which gives every code entry the paper's
gradient in expectation (docs/search.md, "Execution"), at about 2.5× the dense throughput on
the development CPU at the initial α (docs/benchmarks.md). Grappler is off: it adds 30–45 s
to a sparse search's first step and does not make its steps faster.
"""

from egs_keras.runs import classification


def get_config():
    config = classification.default_config()
    config.search.num_samples = 4
    config.search.execution = "sparse"
    config.search.graph_optimizer = False
    return config
