"""Keras layers of egs_keras, one public layer per module (and the modules they share: the
candidate operations, their batch norm and the execution modes)."""

from egs_keras.layers import operations
from egs_keras.layers.egs_cell import EGSCell
from egs_keras.layers.egs_choice import EGSChoice
from egs_keras.layers.egs_mixed_op import EGSMixedOp
from egs_keras.layers.egs_rnn_cell import EGSRNNCell
from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
from egs_keras.layers.genotype_cell import GenotypeCell
from egs_keras.layers.genotype_rnn_cell import GenotypeRNNCell
