"""Pure TensorFlow functions of the Ensemble Gumbel-Softmax estimator; no Keras state here."""

from egs_keras.ops.code_distribution import all_codes
from egs_keras.ops.code_distribution import code_index
from egs_keras.ops.code_distribution import code_probabilities
from egs_keras.ops.code_distribution import code_probability
from egs_keras.ops.code_distribution import inclusion_probability
from egs_keras.ops.code_distribution import most_probable_code
from egs_keras.ops.code_distribution import num_reachable_codes
from egs_keras.ops.estimator import ensemble_gumbel_softmax
from egs_keras.ops.gumbel import derive_seed
from egs_keras.ops.gumbel import gumbel_noise
from egs_keras.ops.probabilities import cost_prior
from egs_keras.ops.probabilities import log_probabilities
