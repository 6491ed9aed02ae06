"""What a custom `train_step` needs to behave the same on one device and on many replicas,
and the one forward/backward pass that the search, evaluation and language models' steps share
(`gradient_pass`, `train_step`).

Keras scales each replica's loss by 1 / replicas so that summed gradients average over the
global batch; `global_loss` gives back the loss to log. Keras 3.15 clips `global_clipnorm`
per replica before summing and packs gradients into one all-reduce that fails on sparse
embedding gradients; `synchronized_gradients` prepares gradients so that neither matters.
Both return their input unchanged on one replica.

>>> pairs = synchronized_gradients(list(zip(gradients, variables)), optimizer)  # doctest: +SKIP
>>> optimizer.apply_gradients(pairs)                                            # doctest: +SKIP
"""

import keras
import tensorflow as tf

from egs_keras import _compat


def global_loss(loss):
    """The loss to log from a replica's `compute_loss` result: Keras scales each replica's
    loss by 1 / replicas (so that summed gradients average over the global batch); this undoes
    it, so logs show the same loss on any number of replicas."""
    if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            return loss * replicas
    return loss


def synchronized_gradients(pairs, optimizer):
    """(gradient, variable) `pairs` ready for `optimizer.apply_gradients` in a replica.

    With one replica they are returned as they are. With several, Keras 3.15 would clip each
    replica's gradients (`global_clipnorm`) before summing them across replicas, so a run on
    R replicas would take steps up to R times longer than on one device; and it packs the
    gradients into one all-reduce, which fails on an embedding's sparse gradient (rows differ
    between replicas). Here the gradients are made dense, summed across replicas, clipped to
    the global norm, and divided by R: Keras' own all-reduce then restores the clipped global
    gradient, and its clipping of each share (at most 1 / R of the norm) changes nothing.
    """
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return pairs
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return pairs
    pairs = [(tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g, v)
             for g, v in pairs]
    if not optimizer.global_clipnorm:
        return pairs
    present = [i for i, (g, _) in enumerate(pairs) if g is not None]
    summed = tf.distribute.get_replica_context().all_reduce(
        "sum", [pairs[i][0] for i in present])
    clipped, _ = tf.clip_by_global_norm(summed, optimizer.global_clipnorm)
    shares = dict(zip(present, (g / replicas for g in clipped), strict=True))
    return [(shares.get(i), v) for i, (_, v) in enumerate(pairs)]


def gradient_pass(model, data, variables, *, forward=None, loss=None, scaler=None,
                  track_loss=True):
    """One forward/backward pass of a custom `train_step`, as Keras' own step does it: returns
    (x, y, sample_weight, y_pred, (gradient, variable) pairs for `variables`).

    `forward(x)` → y_pred (default `model(x, training=True)`); `loss(x, y, y_pred,
    sample_weight)` → the loss (default `model.compute_loss`); the loss is logged through
    Keras' loss tracker (as one device would log it, `global_loss`) unless `track_loss` is
    False, and scaled for `scaler` (default `model.optimizer`: mixed precision's loss scale).
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        y_pred = forward(x) if forward is not None else model(x, training=True)
        if loss is not None:
            value = loss(x, y, y_pred, sample_weight)
        else:
            value = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                       training=True)
        if track_loss:
            _compat.loss_tracker(model).update_state(global_loss(value),
                                                     sample_weight=tf.shape(x)[0])
        scaled = (scaler or model.optimizer).scale_loss(value)
    pairs = list(zip(tape.gradient(scaled, variables), variables, strict=True))
    return x, y, sample_weight, y_pred, pairs


def train_step(model, data, **kwargs):
    """Keras' training step with gradients synchronised across replicas: a `gradient_pass`
    over `model.trainable_variables` (`kwargs` go to it) applied by `model.optimizer`.
    Returns (x, y, sample_weight, y_pred) for the caller's metrics."""
    x, y, sample_weight, y_pred, pairs = gradient_pass(model, data, model.trainable_variables,
                                                       **kwargs)
    model.optimizer.apply_gradients(synchronized_gradients(pairs, model.optimizer))
    return x, y, sample_weight, y_pred
