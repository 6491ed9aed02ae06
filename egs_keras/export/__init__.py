"""Export of trained networks as SavedModels for TF Serving, warm-up records and clients."""

from egs_keras.export.clients import GrpcClient
from egs_keras.export.clients import RestClient
from egs_keras.export.clients import ServingError
from egs_keras.export.saved_model import export_classifier
from egs_keras.export.saved_model import next_version
from egs_keras.export.segmentation import export_segmenter
