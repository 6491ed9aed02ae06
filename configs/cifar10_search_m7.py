"""CIFAR-10 cell search as in the paper: M = 7, 8 cells, 16 filters, 50 epochs, joint, with
DARTS' recipe the paper inherits.

    egs-search --config=configs/cifar10_search_m7.py --workdir=runs/cifar10_search_m7

The recipe: p = 0.5·softmax(α) + 0.5·l, the efficiency credit l from each operation's
forward + backward latency measured on the run's device at its shape in this network (kept
in <workdir>/latency.json); weight decay 3e-4 (weights) and 1e-3 (α) coupled into the
gradient (L2, as DARTS' PyTorch optimizers); no cutout during the search; the genotype keeps
each node's 2 strongest incoming edges with the operations of their most probable codes.
Sparse execution runs the active operations and probes a quarter of the others: faster steps
with the paper's gradient in expectation (an unbiased estimate of dense execution's,
docs/search.md, "Execution").

Hardware: the paper reports 1 GPU-day for the search (Table 1, DARTS-EGS M = 7); on the
2-core CPU of the development machine an epoch of CIFAR-10 takes hours: use a GPU. The paper
reports 2.79 % CIFAR-10 test error and 2.9M parameters for its M = 7 cell (configs/
cifar10_eval.py); not reproduced here. What this recipe derives on the same network with the
bundled digits, and the sizes of those cells: docs/recipe.md, "The paper's recipe on a full-size
search network".
"""

from egs_keras.runs import classification


def get_config():
    config = classification.default_config()
    config.search.execution = "sparse"
    config.search.graph_optimizer = False  # sparse search: starts faster, steps as fast
    return config
