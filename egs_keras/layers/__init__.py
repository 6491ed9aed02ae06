"""Keras layers of egs_keras, one public layer per module."""

from egs_keras.layers.ensemble_gumbel_softmax import EnsembleGumbelSoftmax
