"""The private Keras and TensorFlow APIs egs_keras uses, in one place.

Pinned with the versions in setup.py (tensorflow 2.21.x, keras 3.15.x). Each entry says why
it is used and which test fails if an upgrade removes or changes it; check them all when
the pins move.
"""

import keras

# How Keras reduces the logs of a `tf.distribute` step to single values (private in Keras 3):
# `models.one_level_steps` compiles Keras' step in one function and reduces as Keras does.
# Breaks: tests/models/one_level_steps_test.py, tests/models/distributed_search_test.py.
from keras.src.backend.tensorflow.trainer import reduce_per_replica  # noqa: F401

# Keras' DropoutRNNCell: per-sequence dropout masks that every time step reuses, as AWD-LSTM
# and DARTS drop them. Public in Keras 2 (`keras.layers.DropoutRNNCellMixin`), private in
# Keras 3. Breaks: tests/layers/genotype_rnn_cell_test.py, tests/layers/egs_rnn_cell_test.py.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # noqa: F401

# TensorFlow's tape recording API: the only way to give the graph-pruning `Switch`/`Merge`
# gates of sparse execution a gradient (`tf.custom_gradient` wraps its inputs and outputs in
# an `IdentityN`, which would make dead tensors live), and to record a fused batch norm's
# gradient without the zero tensors the tape builds for its unused outputs.
# Breaks: tests/ops/gating_test.py, tests/layers/egs_mixed_op_test.py,
# tests/layers/egs_choice_test.py, tests/layers/operations_test.py.
from tensorflow.python.eager import record  # noqa: F401

try:
    # Keras traces a whole network once just to learn its output shape (a symbolic call);
    # the search networks know it and skip that trace. Without it they pay the extra trace
    # (nothing fails; start-up is slower: benchmarks/search_benchmark.py).
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope
except ImportError:  # pragma: no cover - other Keras versions

    def in_symbolic_scope():
        return False


def flatten_layers(layer, include_self=False):
    """Every layer nested in `layer` (recursively), each once: Keras' own walk
    (`Layer._flatten_layers`, private since Keras 2 and stable). Used to find the EGS layers
    of any model. Breaks: tests/models/search_model_test.py,
    tests/training/temperature_test.py."""
    return list(layer._flatten_layers(include_self=include_self, recursive=True))


def loss_tracker(model):
    """The `Mean` metric behind Keras' "loss" log (`Model._loss_tracker`, private): custom
    `train_step`s that compute the loss themselves update it, as Keras' own step does.
    Breaks: every test reading `history["loss"]` of a search or language model, e.g.
    tests/models/search_network_test.py."""
    return model._loss_tracker


def is_graph_model(model):
    """True for a Functional or Sequential model (whose graph `keras.models.clone_model`
    rebuilds), False for a subclassed one. Keras has no public test for it; a Functional
    model is the one that can run its graph (`_run_through_graph`). Breaks:
    tests/models/search_model_test.py (derive)."""
    return isinstance(model, keras.Sequential) or hasattr(model, "_run_through_graph")
