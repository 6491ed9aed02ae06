"""What an architecture costs, and the efficiency prior a search adds to its logits.

Three modules, from the bottom up:

* `measures`: what a function, a layer or a network costs (latency, LiteRT latency,
  parameters, multiply-adds), and `count_parameters` / `count_multiply_adds` for whole networks;
* `edge_tables`: per-edge `[num_edges, K]` tables of a search network's candidates at the shapes
  they have there, and the latency table file that keeps measured times;
* `prior`: a search config's `op_costs` resolved into those tables, and a genotype's cost.

This package imports none of them on its own: the layers use `measures`, the runs `prior`.

>>> from egs_keras.costs import measures
>>> measures.MEASURES
('latency', 'parameters', 'multiply_adds', 'litert')
"""
