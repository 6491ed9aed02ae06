"""The paper's search network, recipe and derivation on the bundled digits at 32×32 (no
download): 8 cells of 16 filters, 7-node cells, 50 epochs, joint optimisation, sparse
execution (an unbiased estimate of the paper's dense gradient), λ = 0.5 with the
measured-latency prior, coupled weight decay, no cutout, two edges per node (α's learning
rate scaled to the number of steps, see below). Then a
digits-size evaluation network (8 cells × 16 filters, 30 epochs) is retrained from the
derived cells and exported.

    egs-pipeline --config=configs/digits_paper_search.py --workdir=runs/digits_m4 \\
        --config.search.num_samples=4
    egs-count --config=configs/cifar10_eval.py --genotype=runs/digits_m4/search/genotype.json

The second command counts the derived cells in the paper's CIFAR-10 evaluation network (20
cells × 36 filters): the figure to set beside the paper's Table 5 (2.29M at M = 1 to 3.02M at
M = 9). Hardware: 2 CPU cores. Time and results per M, against the prior-alone and random
cells (benchmarks/search_evidence.py): docs/recipe.md, "Does the search decide?".
"""

from egs_keras.runs import classification


def get_config():
    config = classification.default_config()
    config.data.name = "egs_digits"
    config.data.image_size = 32

    config.search.num_samples = 7
    # 750 digits make 11 steps of 64 per epoch, 550 in 50 epochs, where CIFAR-10 makes
    # 19,500: α's Adam step is raised from 3e-4 in proportion (about 35×), so that α can
    # travel as far as in the paper's search. Every other setting is the paper's.
    config.search.arch_learning_rate = 0.01
    config.search.execution = "sparse"
    config.search.graph_optimizer = False   # sparse search: starts faster, steps as fast

    config.train.epochs = 30
    config.train.batch_size = 32
    config.train.filters = 16
    config.train.num_cells = 8
    config.train.learning_rate = 0.05
    config.train.drop_path_rate = 0.1
    return config
