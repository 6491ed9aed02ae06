"""SavedModel export of trained language models, in TF Serving's layout `<base>/<version>/`.

>>> path = export_language_model(model, "runs/ptb/export")                # doctest: +SKIP
>>> served = tf.saved_model.load(str(path))                               # doctest: +SKIP
>>> served.signatures["score"](token_ids=ids)["perplexity"]               # doctest: +SKIP

Signatures (stable input and output names):

* `serving_default` (next token): `token_ids`, int32 `[N, T]`, and `state`, float32
  `[N, state_size]` (zeros to start a text; the returned `state` to continue it). Returns
  `logits` `[N, T, V]`, `next_token_probabilities` `[N, V]` (after the last token) and `state`.
* `score`: `token_ids`, int32 `[N, T]` with T ≥ 2, scored from a zero state. Returns
  `token_log_probabilities` `[N, T − 1]` (of tokens 1..T−1 given the ones before),
  `log_likelihood` `[N]` (their sum) and `perplexity` `[N]` (exp of minus their mean).

Inputs are checked in the graph (rank, non-empty batch and sequence, ids in [0, V), state
shape, finite state), so bad requests fail with an `InvalidArgumentError` saying what was
wrong. The vocabulary goes into `assets.extra/vocabulary.txt` when given.
"""

import keras
import tensorflow as tf

from egs_keras.export import saved_model


def _checked_tokens(token_ids, vocab_size, min_length):
    expected = (f"int32 token ids of shape [N, T] with N >= 1, T >= {min_length} and values in "
                f"[0, {vocab_size})")
    shape = tf.shape(token_ids)
    padded = tf.concat([shape, tf.zeros([2], tf.int32)], axis=0)[:2]
    shape_ok = tf.logical_and(tf.equal(tf.size(shape), 2),
                              tf.logical_and(padded[0] > 0, padded[1] >= min_length))
    shape_check = tf.debugging.Assert(shape_ok, [f"Expected {expected}; got shape", shape],
                                      summarize=8)
    with tf.control_dependencies([shape_check]):  # value checks assume the rank is right
        flat = tf.reshape(token_ids, [-1])
        value_check = tf.debugging.Assert(
            tf.reduce_all(tf.logical_and(flat >= 0, flat < vocab_size)),
            [f"Expected {expected}; got ids from", tf.reduce_min(flat), "to",
             tf.reduce_max(flat)])
    with tf.control_dependencies([value_check]):
        return tf.identity(token_ids)


def _checked_state(state, token_ids, state_size):
    """`state` after in-graph checks; `token_ids` must be checked already."""
    expected = f"a float32 state of shape [N, {state_size}] (N: the rows of token_ids)"
    shape = tf.shape(state)
    padded = tf.concat([shape, tf.zeros([2], tf.int32)], axis=0)[:2]
    ok = tf.logical_and(tf.equal(tf.size(shape), 2),
                        tf.reduce_all(tf.equal(padded, [tf.shape(token_ids)[0], state_size])))
    check = tf.debugging.Assert(ok, [f"Expected {expected}; got shape", shape], summarize=8)
    with tf.control_dependencies([check]):
        finite = tf.reduce_all(tf.math.is_finite(tf.reshape(state, [-1])))
        value_check = tf.debugging.Assert(finite, [f"Expected {expected}; it holds NaN or Inf"])
    with tf.control_dependencies([value_check]):
        return tf.identity(state)


def export_language_model(model, export_base, version=None, vocabulary=None,
                          extra_files=None, warmup=True):
    """Writes a `RecurrentLanguageModel` as a SavedModel to `<export_base>/<version>/`.

    Args:
        model: the trained language model (its carried states are not exported).
        export_base: the directory TF Serving watches.
        version: integer version; default: the next free one.
        vocabulary: an `egs_keras.data.language_modeling.Vocabulary`, written to
            `assets.extra/vocabulary.txt`.
        extra_files: more {file name: text} for `assets.extra/` (genotype, config).
        warmup: write TF Serving warm-up requests for both signatures.

    Returns:
        The version directory.
    """
    target = saved_model.version_directory(export_base, version)
    vocab_size, sizes = model.vocab_size, model.state_sizes
    state_size = sum(sizes)

    def split(state):
        return tf.split(state, sizes, axis=-1) if len(sizes) > 1 else [state]

    archive = keras.export.ExportArchive()
    archive.track(model)

    def next_token(token_ids, state):
        token_ids = _checked_tokens(token_ids, vocab_size, 1)
        state = _checked_state(state, token_ids, state_size)
        logits, states = model.forward(token_ids, split(state))
        return {"logits": logits,
                "next_token_probabilities": tf.nn.softmax(logits[:, -1]),
                "state": tf.concat(states, axis=-1)}

    def score(token_ids):
        token_ids = _checked_tokens(token_ids, vocab_size, 2)
        logits, _ = model.forward(token_ids[:, :-1])
        log_probs = -tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=token_ids[:, 1:], logits=tf.cast(logits, tf.float32))
        total = tf.reduce_sum(log_probs, axis=1)
        return {"token_log_probabilities": log_probs, "log_likelihood": total,
                "perplexity": tf.exp(-total / tf.cast(tf.shape(log_probs)[1], tf.float32))}

    archive.add_endpoint(
        "serving_default", next_token,
        input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids"),
                         tf.TensorSpec([None, state_size], tf.float32, name="state")])
    archive.add_endpoint(
        "score", score,
        input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids")])
    files = dict(extra_files or {})
    if vocabulary is not None:
        files["vocabulary.txt"] = "".join(token + "\n" for token in vocabulary.tokens)
    ids = [[1, min(2, vocab_size - 1)]]
    warmup_inputs = {
        "serving_default": {"token_ids": tf.constant(ids, tf.int32).numpy(),
                            "state": tf.zeros([1, state_size]).numpy()},
        "score": {"token_ids": tf.constant(ids, tf.int32).numpy()},
    } if warmup else None
    return saved_model.write_versioned(archive, target, files, warmup_inputs)
