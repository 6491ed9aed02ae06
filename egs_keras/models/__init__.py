"""Search, evaluation and segmentation networks, and their size and cost."""

from egs_keras.models import complexity
from egs_keras.models import operation_costs
from egs_keras.models.evaluation_network import EvaluationNetwork
from egs_keras.models.language_model import RecurrentLanguageModel
from egs_keras.models.language_model import RecurrentSearchModel
from egs_keras.models.search_model import SearchModel
from egs_keras.models.search_network import EGSSearchNetwork
from egs_keras.models.segmentation_network import SegmentationNetwork
