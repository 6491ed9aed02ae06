"""`CellSearch`: `ArchitectureSearch` for networks of DARTS cells, which derive a genotype.

The model sets `num_samples`, `primitives`, `genotype_kind` ("cnn" or "rnn") and
`genotype_inputs` (the input nodes of a cell: 2 for CNN cells, 1 for recurrent ones) besides
what `ArchitectureSearch` needs, and gets `genotype()`: the cells its α derives.

Usage: `class MyCellNetwork(CellSearch, keras.Model)` (see `EGSSearchNetwork`).
"""

import numpy as np

from egs_keras import search_space
from egs_keras.models.architecture_search import ArchitectureSearch


class CellSearch(ArchitectureSearch):
    """`ArchitectureSearch` plus `genotype()` for networks whose decisions are DARTS cells."""

    def genotype(self, strategy="most_probable", seed=0, edges_per_node="auto"):
        """Derives the genotype (see `search_space.derive_genotype`): by default each node
        keeps its 2 strongest incoming edges (CNN; 1 for RNN cells), as DARTS and the paper,
        ranked by α's own preference (h = softmax(α), `none` excluded), so that the prior,
        which costs all edges of a cell alike, does not decide them. "sample" draws an
        architecture from the search's law (seeded by `seed`)."""
        probs = {t: np.asarray(p) for t, p in self.probabilities().items()}
        preferences = {t: np.asarray(h) for t, h in self.preferences().items()}
        return search_space.derive_genotype(
            probs, self.num_samples, kind=self.genotype_kind, primitives=self.primitives,
            strategy=strategy, seed=seed, num_inputs=self.genotype_inputs,
            edges_per_node=edges_per_node, preferences=preferences)
