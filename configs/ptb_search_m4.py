"""The paper's recurrent search on Penn Treebank: M = 4, joint optimisation, DARTS' search
model (300 units, 12-node cell, batch 256, BPTT 35, SGD lr 20, 50 epochs), λ = 0.5 with the
efficiency credit from each activation's measured latency on an edge (matrix product, gate,
activation; kept in <workdir>/latency.json), weight decay coupled into the gradient (5e-7,
α 1e-3, as DARTS), one incoming edge per node in the derived cell.

    egs-search --config=configs/ptb_search_m4.py --workdir=runs/ptb_search

Data: ptb.train.txt, ptb.valid.txt, ptb.test.txt in <data_dir>/downloads/manual/ (or online).
Hardware: one GPU (DARTS' first-order RNN search: about 0.5 GPU-day); a 2-core CPU takes days.
Result to compare with: the paper's cell reaches 55.3 test perplexity after evaluation
training (configs/ptb_eval.py).
"""

from egs_keras.runs import language


def get_config():
    return language.default_config()
