import numpy as np
import pytest

from egs_keras.data import language_modeling as lm


def test_vocabulary_puts_specials_first_then_words_by_frequency(tmp_path):
    vocabulary = lm.Vocabulary.from_lines(["b a b", "c b a <unk>"])
    assert vocabulary.tokens == ["<unk>", "<eos>", "b", "a", "c"]
    assert vocabulary.encode(["a z", ""]).tolist() == [3, 0, 1, 1]
    assert vocabulary.decode([2, 3, 1]) == "b a <eos>"
    vocabulary.save(tmp_path / "vocab.txt")
    assert lm.Vocabulary.load(tmp_path / "vocab.txt") == vocabulary
    assert lm.Vocabulary.from_lines(["b a b", "c b a"], max_size=3).tokens == ["<unk>", "<eos>",
                                                                                "b"]


def test_batchify_cuts_the_stream_into_consecutive_rows():
    rows = lm.batchify(np.arange(23), 4)
    assert rows.tolist()[1] == [5, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="too short for batch_size = 4"):
        lm.batchify(np.arange(7), 4)


def _collect(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_training_windows_continue_each_row_and_predict_the_next_token():
    rows = lm.batchify(np.arange(2 * 400), 2)
    dataset, steps = lm.training_windows(rows, bptt=20, seed=3, num_epochs=2)
    batches = _collect(dataset)
    assert steps == 399 // 20 and len(batches) == 2 * steps
    for x, y in batches:
        np.testing.assert_array_equal(y, x + 1)          # targets are the next tokens
    epoch = batches[:steps]
    assert epoch[0][0][0, 0] == 0                        # an epoch starts at the beginning
    positions = [x - rows[:, :1] for x, _ in epoch]      # same in every row
    for window, following in zip(positions, positions[1:], strict=False):
        assert (window == window[:1]).all()
        expected = window[0, -1] + 1 if window[0, -1] + 1 < 399 else 0   # wraps at the end
        assert following[0, 0] == expected


def test_resumed_windows_are_the_uninterrupted_ones_and_lengths_follow_awd_lstm():
    rows = lm.batchify(np.arange(3 * 3000), 3)
    full, _ = lm.training_windows(rows, bptt=35, seed=7, num_epochs=3)
    resumed, steps = lm.training_windows(rows, bptt=35, seed=7, num_epochs=3, initial_epoch=1)
    full, resumed = _collect(full), _collect(resumed)
    assert len(resumed) == 2 * steps
    for (a, _), (b, _) in zip(full[steps:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    lengths = np.array([x.shape[1] for x, _ in full])
    assert lengths.min() >= 5 and lengths.max() <= 55
    # E[length] = 0.95 · 35 + 0.05 · 17.5 (minus clipping at the end of the text).
    assert abs(lengths.mean() - 34.1) < 1.5
    assert len(set(lengths[:steps])) > 5 and not np.array_equal(lengths[:steps],
                                                                  lengths[steps:2 * steps])


def test_fixed_length_windows_are_bptt_long():
    rows = lm.batchify(np.arange(2 * 101), 2)
    dataset, steps = lm.training_windows(rows, bptt=10, seed=0, num_epochs=1,
                                         variable_length=False)
    assert [x.shape[1] for x, _ in _collect(dataset)] == [10] * steps


def test_evaluation_windows_score_every_position_exactly_once():
    rows = lm.batchify(np.arange(2 * 50), 2)
    batches = _collect(lm.evaluation_windows(rows, bptt=15))
    assert [x.shape[1] for x, _ in batches] == [15, 15, 15, 4]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches], axis=1), rows[:, 1:])


def test_unigram_perplexity_of_a_uniform_text_is_the_vocabulary_size():
    stream = np.tile(np.arange(10), 100)
    assert lm.unigram_perplexity(stream, stream, 10) == pytest.approx(10.0)
