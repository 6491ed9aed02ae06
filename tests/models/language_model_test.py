import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras.data import language_modeling as lm
from egs_keras.data import text_corpora
from egs_keras.layers import EGSRNNCell
from egs_keras.layers import GenotypeRNNCell
from egs_keras.metrics import Perplexity
from egs_keras.models import RecurrentLanguageModel
from egs_keras.models import RecurrentSearchModel
from egs_keras.training.checkpointing import RunCheckpoint

ROWS, BPTT = 16, 20
NODES = [[["tanh", 0]], [["relu", 1], ["sigmoid", 0]]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    lines = text_corpora.load_lines("egs_sentences", str(tmp_path_factory.mktemp("tfds")))
    vocabulary = lm.Vocabulary.from_lines(lines["train"])
    train, valid = (vocabulary.encode(lines[s]) for s in ("train", "validation"))
    return vocabulary, lm.batchify(train, ROWS), lm.batchify(valid, ROWS), \
        lm.unigram_perplexity(train, valid, len(vocabulary))


def _compile(model, lr=20.0, **kwargs):
    model.compile(keras.optimizers.SGD(lr, global_clipnorm=0.25),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[Perplexity()], **kwargs)
    return model


def _evaluation_model(vocab_size, seed=0, **kwargs):
    cell = GenotypeRNNCell(24, NODES, [1, 2], dropout=0.1, recurrent_dropout=0.1, seed=seed)
    return RecurrentLanguageModel(vocab_size, cell, batch_size=ROWS, seed=seed, **kwargs)


def test_search_learns_the_grammar_far_below_the_unigram_baseline(corpus):
    vocabulary, train, valid, unigram = corpus
    cell = EGSRNNCell(units=32, num_nodes=6, num_samples=4, execution="sparse", seed=0)
    model = _compile(RecurrentSearchModel(len(vocabulary), cell, batch_size=ROWS),
                     arch_optimizer=keras.optimizers.Adam(3e-3))
    alphas = np.array(cell.decision.logits)
    windows, steps = lm.training_windows(train, BPTT, seed=0, num_epochs=8)
    history = model.fit(windows, epochs=8, steps_per_epoch=steps, verbose=0,
                        validation_data=lm.evaluation_windows(valid, BPTT)).history
    assert history["val_perplexity"][-1] < 0.5 * unigram, (history, unigram)
    assert not np.allclose(alphas, cell.decision.logits)
    assert {"temperature", "alpha_entropy", "active_ops"} <= set(history)
    genotype = model.genotype()
    assert genotype.kind == "rnn" and len(genotype.cells["recurrent"].nodes) == 2


def test_bilevel_search_keeps_a_state_per_stream(corpus):
    vocabulary, train, valid, _ = corpus
    cell = EGSRNNCell(units=8, num_nodes=5, num_samples=2, seed=1)
    model = _compile(RecurrentSearchModel(len(vocabulary), cell, search_mode="bilevel",
                                          batch_size=ROWS))
    train_windows, steps = lm.training_windows(train, BPTT, seed=0, num_epochs=1)
    valid_windows, _ = lm.training_windows(valid, BPTT, seed=1, num_epochs=10)
    alphas = np.array(cell.decision.logits)
    model.fit(tf.data.Dataset.zip((train_windows, valid_windows)), epochs=1,
              steps_per_epoch=3, verbose=0)
    states = model.carried_states
    assert not np.allclose(states["train"][0], states["validation"][0])
    assert not np.allclose(alphas, cell.decision.logits)


def test_carried_state_makes_windows_equal_to_one_long_sequence(corpus):
    vocabulary, _, valid, _ = corpus
    model = _evaluation_model(len(vocabulary))
    long = model(valid[:, :60], training=False).numpy()
    model.reset_state()
    pieces = [model(valid[:, s:s + 20], training=False).numpy() for s in (0, 20, 40)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), long, atol=1e-4)
    stateless = RecurrentLanguageModel(len(vocabulary), model.cell)
    assert not np.allclose(stateless(valid[:, 20:40]), pieces[1], atol=1e-3)


def test_an_lstm_cell_carries_both_of_its_states(corpus):
    vocabulary, _, valid, _ = corpus
    model = RecurrentLanguageModel(len(vocabulary), keras.layers.LSTMCell(16), batch_size=ROWS)
    long = model(valid[:, :30]).numpy()
    model.reset_state()
    pieces = [model(valid[:, s:s + 15]).numpy() for s in (0, 15)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), long, atol=1e-4)
    assert [len(v) for v in model.carried_states.values()] == [2, 2, 2]


def test_evaluate_restarts_from_a_zero_state_each_time(corpus):
    vocabulary, _, valid, _ = corpus
    model = _compile(_evaluation_model(len(vocabulary)))
    windows = lm.evaluation_windows(valid, BPTT)
    first = model.evaluate(windows, verbose=0, return_dict=True)
    assert model.evaluate(windows, verbose=0, return_dict=True) == pytest.approx(first)
    # Perplexity over all tokens = exp(mean token loss), not a mean over batches.
    assert first["perplexity"] == pytest.approx(np.exp(first["loss"]), rel=0.02)


def test_evaluation_model_resumes_exactly_from_a_checkpoint(corpus, tmp_path):
    vocabulary, train, _, _ = corpus
    rows = train[:, :201]

    def run(epochs, initial_epoch, model):
        windows, steps = lm.training_windows(rows, BPTT, seed=3, num_epochs=epochs,
                                             initial_epoch=initial_epoch)
        model.fit(windows, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                  verbose=0)

    kwargs = dict(embedding_dropout=0.1, input_dropout=0.2, output_dropout=0.3)
    straight = _compile(_evaluation_model(len(vocabulary), **kwargs), lr=5.0)
    run(2, 0, straight)
    first = _compile(_evaluation_model(len(vocabulary), **kwargs), lr=5.0)
    run(1, 0, first)
    RunCheckpoint(tmp_path, first).save(1)
    resumed = _compile(_evaluation_model(len(vocabulary), seed=9, **kwargs), lr=5.0)
    assert RunCheckpoint(tmp_path, resumed).restore() == 1
    run(2, 1, resumed)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_keras_files_round_trip_both_models(corpus, tmp_path):
    vocabulary, _, valid, _ = corpus
    cell = EGSRNNCell(units=8, num_nodes=5, num_samples=2, seed=1)
    for model in (_compile(_evaluation_model(len(vocabulary))),
                  _compile(RecurrentSearchModel(len(vocabulary), cell, batch_size=ROWS))):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is type(model)
        np.testing.assert_allclose(loaded(valid[:, :10]), model(valid[:, :10]), atol=1e-5)


def test_mismatched_rows_and_untieable_sizes_are_explained(corpus):
    vocabulary, _, valid, _ = corpus
    model = _evaluation_model(len(vocabulary))
    with pytest.raises(ValueError, match="Received a batch of 4 rows .* expected 16"):
        model(valid[:4, :10])
    with pytest.raises(ValueError, match="tied weights need them equal"):
        RecurrentLanguageModel(len(vocabulary), GenotypeRNNCell(8, NODES, [1]),
                               embedding_dim=16)
    with pytest.raises(ValueError, match="EGSRNNCell"):
        RecurrentSearchModel(len(vocabulary), GenotypeRNNCell(8, NODES, [1]))
