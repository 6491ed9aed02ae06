"""Export of trained networks as SavedModels for TF Serving."""

from egs_keras.export.saved_model import export_classifier
from egs_keras.export.saved_model import next_version
