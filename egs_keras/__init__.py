"""egs_keras: differentiable architecture search with an Ensemble Gumbel-Softmax, for Keras 3.

>>> import egs_keras
>>> layer = egs_keras.EnsembleGumbelSoftmax(num_samples=7, logits_shape=(14, 8))
"""

from egs_keras import layers
from egs_keras import losses
from egs_keras import metrics
from egs_keras import models
from egs_keras import ops
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras import training
from egs_keras.costs import edge_tables  # noqa: F401  (egs_keras.costs.* after import egs_keras)
from egs_keras.costs import measures  # noqa: F401
from egs_keras.costs import prior  # noqa: F401
from egs_keras.layers import EGSChoice
from egs_keras.layers import EnsembleGumbelSoftmax
from egs_keras.models import SearchModel
from egs_keras.training import ExponentialAnnealing
from egs_keras.training import LinearAnnealing
from egs_keras.training import TemperatureScheduler
from egs_keras.version import __version__
