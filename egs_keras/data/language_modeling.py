"""Language-modelling data: a word vocabulary, token streams, and BPTT windows for `fit`.

A corpus (lines of space-separated words, as in PTB and WikiText) becomes one token stream
(`<eos>` after every line, out-of-vocabulary words as `<unk>`), cut into `batch_size` parallel
rows (`batchify`); batch t of `training_windows` holds, in every row, the text that follows
batch t − 1 in that row, so a model that carries its state across batches
(`RecurrentLanguageModel(batch_size=...)`) sees each row as one long text.

>>> vocabulary = Vocabulary.from_lines(["a b a", "b c"])
>>> vocabulary.encode(["a b d"]).tolist()
[2, 3, 0, 1]
>>> vocabulary.tokens[:2]
['<unk>', '<eos>']
"""

import collections
import dataclasses
import pathlib

import numpy as np
import tensorflow as tf

from egs_keras import _validation
from egs_keras import record_files

UNKNOWN, END_OF_SENTENCE = "<unk>", "<eos>"


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Words ↔ ids: `<unk>` is 0, `<eos>` 1, then words by decreasing frequency (ties
    alphabetically), so a vocabulary built from the same text is always the same."""

    tokens: list

    def __post_init__(self):
        if self.tokens[:2] != [UNKNOWN, END_OF_SENTENCE]:
            raise _validation.invalid("tokens", f"a list starting with {UNKNOWN!r}, "
                                      f"{END_OF_SENTENCE!r}", self.tokens[:2])
        object.__setattr__(self, "ids", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def from_lines(cls, lines, max_size=None):
        """The vocabulary of `lines` (at most `max_size` entries; rarer words → `<unk>`)."""
        counts = collections.Counter(word for line in lines for word in line.split())
        for special in (UNKNOWN, END_OF_SENTENCE):
            counts.pop(special, None)
        words = sorted(counts, key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max(_validation.check_positive_int("max_size", max_size) - 2, 0)]
        return cls([UNKNOWN, END_OF_SENTENCE, *words])

    @classmethod
    def load(cls, path):
        """Reads a vocabulary file: one token per line, in id order."""
        return cls(pathlib.Path(path).read_text(encoding="utf-8").split("\n")[:-1])

    def save(self, path):
        """Writes the vocabulary file (one token per line, in id order), atomically."""
        record_files.atomic_write_text(path, "".join(t + "\n" for t in self.tokens))

    def __len__(self):
        return len(self.tokens)

    def encode(self, lines):
        """One int32 stream: the words of every line then `<eos>`; unknown words → `<unk>`."""
        ids = []
        for line in lines:
            ids.extend(self.ids.get(word, 0) for word in line.split())
            ids.append(1)
        return np.asarray(ids, dtype="int32")

    def decode(self, ids):
        return " ".join(self.tokens[i] for i in np.asarray(ids).reshape(-1))


def batchify(stream, batch_size):
    """`[batch_size, N]`: the stream cut into `batch_size` consecutive rows (tail dropped)."""
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    stream = np.asarray(stream)
    length = len(stream) // batch_size
    if length < 2:
        raise ValueError(f"Received a stream of {len(stream)} tokens, too short for "
                         f"batch_size = {batch_size}: each row needs at least 2 tokens.")
    return stream[: batch_size * length].reshape(batch_size, length)


def window_lengths(bptt, num_windows, rng, variable_length=True, max_extra=20):
    """AWD-LSTM's random BPTT lengths: N(bptt, 5) (or N(bptt / 2, 5) with probability 0.05),
    at least 5 and at most bptt + max_extra; all `bptt` without `variable_length`."""
    if not variable_length:
        return np.full(num_windows, bptt, dtype="int64")
    centre = np.where(rng.random(num_windows) < 0.95, bptt, bptt / 2)
    lengths = rng.normal(centre, 5).astype("int64")
    return np.clip(lengths, min(5, bptt), bptt + max_extra)


def epoch_windows(num_positions, bptt, seed, epoch, variable_length=True):
    """(starts, lengths) of one epoch's `num_positions // bptt` windows, from the stream's
    start; lengths drawn from (seed, epoch); a window that would run past the end is cut
    there and the next one starts over at 0."""
    num_windows = max(num_positions // bptt, 1)
    rng = np.random.default_rng([seed, epoch])
    lengths = window_lengths(bptt, num_windows, rng, variable_length)
    starts, position = [], 0
    for k, length in enumerate(lengths):
        lengths[k] = min(length, num_positions - position)
        starts.append(position)
        position += lengths[k]
        position %= num_positions
    return np.asarray(starts, "int64"), lengths


def training_windows(rows, bptt, seed, num_epochs, initial_epoch=0, variable_length=True):
    """Batches `(inputs, targets)` of shape `[batch, length]` for `fit`, epoch after epoch.

    Every epoch starts at the beginning of the rows and has the same number of windows,
    `(N − 1) // bptt` (pass it as `steps_per_epoch`), each of a random length (see
    `window_lengths`), so an epoch covers about 97 % of the text. Epoch e's windows depend
    only on (seed, e): a run resumed at `initial_epoch` gets exactly the batches of an
    uninterrupted one.

    Args:
        rows: `[batch, N]` int token ids (see `batchify`).
        bptt: mean window length (DARTS: 35).
        seed: seed of the lengths.
        num_epochs: the last epoch (exclusive) to produce.
        initial_epoch: the first epoch to produce.
        variable_length: draw lengths (True) or use `bptt` throughout.

    Returns:
        (dataset, steps_per_epoch).
    """
    rows = tf.constant(np.asarray(rows, "int32"))
    num_positions = int(rows.shape[1]) - 1
    bptt = _validation.check_positive_int("bptt", bptt)
    windows = [epoch_windows(num_positions, bptt, seed, e, variable_length)
               for e in range(initial_epoch, num_epochs)]
    steps = max(num_positions // bptt, 1)
    if not windows:
        return tf.data.Dataset.from_tensor_slices((rows[:, :0], rows[:, :0])).take(0), steps
    starts = np.concatenate([w[0] for w in windows])
    lengths = np.concatenate([w[1] for w in windows])
    dataset = tf.data.Dataset.from_tensor_slices((starts, lengths)).map(
        lambda start, length: _window(rows, start, length))
    return dataset.prefetch(tf.data.AUTOTUNE), steps


def evaluation_windows(rows, bptt):
    """Consecutive windows of `bptt` tokens (the last may be shorter) covering every position
    once, as `(inputs, targets)` batches: the whole text is scored exactly once."""
    rows = tf.constant(np.asarray(rows, "int32"))
    num_positions = int(rows.shape[1]) - 1
    bptt = _validation.check_positive_int("bptt", bptt)
    starts = np.arange(0, num_positions, bptt, dtype="int64")
    lengths = np.minimum(bptt, num_positions - starts)
    dataset = tf.data.Dataset.from_tensor_slices((starts, lengths)).map(
        lambda start, length: _window(rows, start, length))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _window(rows, start, length):
    inputs = rows[:, start:start + length]
    targets = rows[:, start + 1:start + 1 + length]
    return tf.ensure_shape(inputs, [rows.shape[0], None]), tf.ensure_shape(
        targets, [rows.shape[0], None])


def unigram_perplexity(train_stream, eval_stream, vocab_size):
    """Perplexity of the add-one unigram model of `train_stream` on `eval_stream`: the
    baseline a language model must beat by far."""
    counts = np.bincount(np.asarray(train_stream), minlength=vocab_size) + 1.0
    log_probs = np.log(counts / counts.sum())
    return float(np.exp(-log_probs[np.asarray(eval_stream)].mean()))
