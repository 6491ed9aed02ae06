"""Search, evaluation, segmentation and language networks (their sizes and costs are counted
by `egs_keras.costs.measures`)."""

from egs_keras.models.evaluation_network import EvaluationNetwork
from egs_keras.models.language_model import RecurrentLanguageModel
from egs_keras.models.language_model import RecurrentSearchModel
from egs_keras.models.search_model import SearchModel
from egs_keras.models.search_network import EGSSearchNetwork
from egs_keras.models.segmentation_network import SegmentationNetwork
