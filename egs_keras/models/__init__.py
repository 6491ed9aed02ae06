"""Search and evaluation networks."""

from egs_keras.models.search_network import EGSSearchNetwork
