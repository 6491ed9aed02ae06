"""Recurrent language models: `RecurrentLanguageModel` (any cell) and `RecurrentSearchModel`
(an `EGSRNNCell`, searched with `model.fit`)."""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras._compat import in_symbolic_scope
from egs_keras.layers import highway_cell
from egs_keras.layers.egs_rnn_cell import EGSRNNCell
from egs_keras.models import replica_steps
from egs_keras.models.architecture_search import check_search_mode
from egs_keras.models.cell_search import CellSearch
from egs_keras.models.one_level_steps import OneLevelSteps

STREAMS = ("train", "validation", "evaluation")


@keras.saving.register_keras_serializable(package="egs_keras")
class RecurrentLanguageModel(OneLevelSteps, keras.Model):
    """Embedding → `keras.layers.RNN(cell)` → softmax over the vocabulary (AWD-LSTM / DARTS).

    Maps token ids `[batch, time]` to next-token logits `[batch, time, vocab_size]`.

    Truncated back-propagation through time: with `batch_size` set, the model carries its
    hidden state from one batch to the next (without gradient), as a stateful RNN, so batch
    row r must continue the text of row r of the previous batch (see
    `egs_keras.data.language_modeling`). There are separate states for the training stream,
    the validation stream of a bilevel search, and evaluation (`evaluate`, `predict`; of
    `eval_batch_size` rows). All are zeroed whenever Keras resets the metrics, i.e. at the
    start of every epoch and of every `evaluate`, or by `reset_state()`. Without
    `batch_size`, every batch starts from a zero state.

    Regularisation (AWD-LSTM, all variational: one mask per batch, shared by its time steps):
    `embedding_dropout` drops whole words from the embedding matrix, `input_dropout` embedding
    features, `output_dropout` the RNN outputs; the cell's own `dropout` / `recurrent_dropout`
    act inside the recurrence. With `tie_weights` the softmax reuses the embedding matrix
    (then the cell's `units` must equal `embedding_dim`).

    Args:
        vocab_size: number of token ids.
        cell: a Keras RNN cell (e.g. `GenotypeRNNCell`, `EGSRNNCell`, `keras.layers.LSTMCell`)
            or its serialized config.
        embedding_dim: embedding size (default: the cell's `units`).
        batch_size: rows of training batches, to carry the state across them (or None).
        eval_batch_size: rows of evaluation batches (default `batch_size`).
        embedding_dropout, input_dropout, output_dropout: rates in [0, 1).
        tie_weights: share the embedding matrix with the softmax layer.
        seed: seed of the dropout masks and of the embedding initialisation.

    Call arguments:
        tokens: int token ids `[batch, time]`.
        training: dropout on, and the "train" state.
        stream: which carried state to use ("train", "validation", "evaluation"); default
            "train" in training, else "evaluation".

    Example:

    >>> cell = GenotypeRNNCell(32, [[["relu", 0]], [["tanh", 1]]], concat=[1, 2])
    >>> model = RecurrentLanguageModel(vocab_size=100, cell=cell, batch_size=4)
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...               metrics=[egs_keras.metrics.Perplexity()])
    >>> model(tf.zeros([4, 10], tf.int32)).shape
    TensorShape([4, 10, 100])
    """

    def __init__(self, vocab_size, cell, embedding_dim=None, batch_size=None,
                 eval_batch_size=None, embedding_dropout=0.0, input_dropout=0.0,
                 output_dropout=0.0, tie_weights=True, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _validation.check_positive_int("vocab_size", vocab_size)
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not hasattr(cell, "state_size"):
            raise _validation.invalid("cell", "a Keras RNN cell (with `state_size`)", cell)
        if not cell.built:  # a stable variable path, so checkpoints fit any instance
            cell.name = "cell"
        self.cell = cell
        units = cell.state_size if isinstance(cell.state_size, int) else cell.state_size[0]
        self.embedding_dim = _validation.check_positive_int(
            "embedding_dim", units if embedding_dim is None else embedding_dim)
        self.batch_size = None if batch_size is None else _validation.check_positive_int(
            "batch_size", batch_size)
        self.eval_batch_size = self.batch_size if eval_batch_size is None else (
            _validation.check_positive_int("eval_batch_size", eval_batch_size))
        self.embedding_dropout = highway_cell.check_rate("embedding_dropout", embedding_dropout)
        self.input_dropout = highway_cell.check_rate("input_dropout", input_dropout)
        self.output_dropout = highway_cell.check_rate("output_dropout", output_dropout)
        self.tie_weights = bool(tie_weights)
        output_size = getattr(cell, "output_size", units)
        if self.tie_weights and output_size != self.embedding_dim:
            raise ValueError(
                f"Received a cell with {output_size} outputs and embedding_dim = "
                f"{self.embedding_dim}; tied weights need them equal. Set `embedding_dim` to "
                f"{output_size} or `tie_weights=False`.")
        self.seed = int(seed)
        self.embedding = keras.layers.Embedding(
            vocab_size, self.embedding_dim, name="embedding",
            embeddings_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=seed))
        self.rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True, name="rnn")
        self.decoder = None if self.tie_weights else keras.layers.Dense(vocab_size, name="decoder")
        self.carried_states = {}
        self.build((self.batch_size, None))

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size,
                      cell=keras.saving.serialize_keras_object(self.cell),
                      embedding_dim=self.embedding_dim, batch_size=self.batch_size,
                      eval_batch_size=self.eval_batch_size,
                      embedding_dropout=self.embedding_dropout, input_dropout=self.input_dropout,
                      output_dropout=self.output_dropout, tie_weights=self.tie_weights,
                      seed=self.seed)
        return config

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.rnn.build((input_shape[0], None, self.embedding_dim))
        units = self.rnn.cell.output_size
        if self.decoder is not None:
            self.decoder.build((None, units))
        else:
            self.output_bias = self.add_weight(name="output_bias", shape=(self.vocab_size,),
                                               initializer="zeros")
        self.dropout_seed = keras.random.SeedGenerator(self.seed, name="dropout_seed")
        if self.batch_size is not None:
            rows = {"train": self.batch_size, "validation": self.batch_size,
                    "evaluation": self.eval_batch_size}
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            for stream, count in rows.items():
                if count % replicas:
                    raise ValueError(
                        f"Received {count} rows for the {stream!r} stream and {replicas} "
                        "replicas, expected a multiple of the replicas: each replica carries "
                        "the state of its own rows. Change the batch sizes or the replicas.")
            sizes = self.state_sizes
            # One copy per replica ("on_read"): replica r carries the state of its rows of
            # every global batch (tf.distribute splits batches in order).
            self.carried_states = {
                stream: [self._per_replica_state(f"{stream}_state" + (f"_{i}" if i else ""),
                                                 (rows[stream] // replicas, size))
                         for i, size in enumerate(sizes)]
                for stream in STREAMS}
        self.built = True

    def _per_replica_state(self, name, shape):
        """A zero state variable with one copy per replica (`add_weight` as such, but with
        TensorFlow's "on_read" synchronisation, which `add_weight` does not take)."""
        with keras.name_scope(self.name, caller=self):
            variable = keras.Variable(initializer="zeros", shape=shape, dtype=self.variable_dtype,
                                      trainable=False, aggregation="mean",
                                      synchronization="on_read", name=name)
        self._track_variable(variable)
        return variable

    @property
    def transient_variables(self):
        """The carried states: zeroed at every epoch and evaluation, shaped by the replicas,
        so checkpoints leave them out."""
        return [v for states in self.carried_states.values() for v in states]

    def call(self, tokens, training=None, stream=None):
        if in_symbolic_scope():
            shape = tf.shape(tokens)
            return tf.zeros([shape[0], shape[1], self.vocab_size], self.compute_dtype)
        stream = stream or ("train" if training else "evaluation")
        if stream not in STREAMS:
            raise _validation.invalid("stream", f"one of {list(STREAMS)}", stream)
        carried = self.carried_states.get(stream)
        initial_state = None
        if carried is not None:
            rows, expected = tokens.shape[0], carried[0].shape[0]
            if rows is not None and rows != expected:
                raise ValueError(
                    f"Received a batch of {rows} rows for the {stream!r} stream, expected "
                    f"{expected} (per replica): the model carries that stream's state across "
                    "batches. "
                    "Batch the data accordingly, or construct the model with matching "
                    "`batch_size` / `eval_batch_size` (None: no state carried).")
            initial_state = [tf.convert_to_tensor(v) for v in carried]
        logits, states = self.forward(tokens, initial_state, training=training)
        if carried is not None:
            for variable, state in zip(carried, states, strict=True):
                variable.assign(tf.stop_gradient(state))
        return logits

    def forward(self, tokens, states=None, training=False):
        """(logits `[batch, time, vocab]`, final states) from `states` (default: zeros),
        leaving the carried states alone; what the exported signatures run.

        >>> logits, states = model.forward(tokens, [state])   # doctest: +SKIP
        """
        tokens = tf.cast(tokens, "int32")
        x = self.embedding(tokens)
        if training and self.embedding_dropout > 0:
            keep = keras.random.dropout(tf.ones([self.vocab_size]), self.embedding_dropout,
                                        seed=self.dropout_seed)
            x = x * tf.gather(keep, tokens)[..., tf.newaxis]
        if training:
            x = self._variational_dropout(x, self.input_dropout)
        outputs, *states = self.rnn(x, initial_state=states, training=training)
        if training:
            outputs = self._variational_dropout(outputs, self.output_dropout)
        if self.decoder is not None:
            return self.decoder(outputs), states
        logits = tf.matmul(outputs, self.embedding.embeddings, transpose_b=True)
        return logits + self.output_bias, states

    @property
    def state_sizes(self):
        """The sizes of the cell's states (one entry for DARTS cells, two for an LSTM)."""
        sizes = self.rnn.cell.state_size
        return [sizes] if isinstance(sizes, int) else list(sizes)

    def _variational_dropout(self, x, rate):
        if rate == 0:
            return x
        shape = tf.shape(x)
        mask = keras.random.dropout(tf.ones([shape[0], 1, shape[2]], x.dtype), rate,
                                    seed=self.dropout_seed)
        return x * mask

    def train_step(self, data):
        """Keras' training step, with gradients synchronised and clipped across replicas as
        one device would (see `replica_steps.synchronized_gradients`)."""
        x, y, sample_weight, y_pred = replica_steps.train_step(self, data)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def reset_state(self):
        """Zeroes every carried hidden state."""
        for states in self.carried_states.values():
            for state in states:
                state.assign(tf.zeros_like(state))

    def reset_metrics(self):
        """Keras' metric reset (start of each epoch and evaluation) also zeroes the states."""
        super().reset_metrics()
        self.reset_state()


@keras.saving.register_keras_serializable(package="egs_keras")
class RecurrentSearchModel(CellSearch, RecurrentLanguageModel):
    """A language model around an `EGSRNNCell`, searched with `model.fit` (joint or bilevel).

    Everything of `RecurrentLanguageModel`, plus the search of `CellSearch`: α is the
    cell's `decision`; "joint" fits on `(tokens, next_tokens)` batches, "bilevel" on
    `((train_x, train_y), (valid_x, valid_y))` pairs, each stream carrying its own state.
    `genotype()` derives the recurrent genotype.

    Args:
        vocab_size, cell, ...: as for `RecurrentLanguageModel`; `cell` must be an
            `EGSRNNCell`.
        search_mode: "joint" or "bilevel".

    Example:

    >>> cell = EGSRNNCell(units=16, num_nodes=6, num_samples=4)
    >>> model = RecurrentSearchModel(vocab_size=50, cell=cell, batch_size=8)
    >>> model.compile(keras.optimizers.SGD(20.0, global_clipnorm=0.25),
    ...               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...               arch_optimizer=keras.optimizers.Adam(3e-3, beta_1=0.9))
    >>> # model.fit(windows, ...); model.genotype()
    """

    def __init__(self, vocab_size, cell, search_mode="joint", **kwargs):
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not isinstance(cell, EGSRNNCell):
            raise _validation.invalid("cell", "an EGSRNNCell", type(cell).__name__)
        super().__init__(vocab_size, cell, **kwargs)
        self.search_mode = check_search_mode(search_mode)
        self.num_samples, self.primitives = cell.num_samples, cell.primitives
        self.genotype_kind, self.genotype_inputs = "rnn", 1

    def get_config(self):
        return {**super().get_config(), "search_mode": self.search_mode}

    @property
    def decisions(self):
        """{"recurrent": the cell's `EnsembleGumbelSoftmax`}."""
        return {"recurrent": self.cell.decision}

    def search_forward(self, x, stream):
        return self(x, training=True, stream=stream)
