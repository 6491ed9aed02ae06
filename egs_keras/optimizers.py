"""Coupled (L2) weight decay for any Keras optimizer: the update DARTS and the paper use.

PyTorch's `weight_decay`, which DARTS and DARTS-EGS configure (3e-4 for the weights, 1e-3
for α, ...), is *coupled*: it adds `wd · w` to the gradient, and the optimizer's own update
(momentum, Adam's moments) then runs on that sum:

    g ← clip(∇L) + wd · w;   w ← update(w, g)

Keras' `weight_decay` is *decoupled* (SGDW, AdamW): `w ← w − lr · wd · w` beside the update.
With SGD and momentum μ the coupled decay compounds to about 1 / (1 − μ) = 10× more per step;
with Adam it is divided by the running gradient scale like any gradient, which makes it far
stronger on small gradients. `CoupledWeightDecay` wraps any Keras optimizer and gives it the
coupled form; the inner optimizer's own `weight_decay` stays available for SGDW / AdamW.

>>> optimizer = CoupledWeightDecay(keras.optimizers.SGD(0.025, momentum=0.9),
...                                weight_decay=3e-4, global_clipnorm=5.0)
>>> optimizer.inner_optimizer.name
'SGD'
"""

import math
import numbers

import keras
import tensorflow as tf

from egs_keras import _validation

WEIGHT_DECAY_MODES = ("coupled", "decoupled")


@keras.saving.register_keras_serializable(package="egs_keras")
class CoupledWeightDecay(keras.optimizers.Optimizer):
    """Runs `optimizer` on `clip(∇L) + weight_decay · w` (L2 in the gradient, DARTS' update).

    Clipping is the wrapper's, as in DARTS (`clip_grad_norm_` on ∇L, then the optimizer's
    step adds the decay): the data gradient is clipped, not the decay. The wrapper holds no
    optimizer state of its own: the inner optimizer's slots, iterations and learning rate are
    the ones that train, checkpoint and log. Under `tf.distribute` each replica adds its share
    of the decay (`wd · w / replicas`), so the summed update is the same as on one device.
    Under a mixed-precision policy Keras wraps it in a `LossScaleOptimizer`, which unscales
    the gradients before they reach this one.

    Args:
        optimizer: the Keras optimizer to wrap (an instance, a name, or a config). Its own
            clipping must be off (set it here) and it must not be a `LossScaleOptimizer`.
        weight_decay: the L2 coefficient `wd` ≥ 0, as PyTorch's `weight_decay`.
        clipnorm, global_clipnorm, clipvalue: clipping of the data gradient (at most one).
        name: the optimizer's name.

    Example:

    >>> sgd = CoupledWeightDecay(keras.optimizers.SGD(0.1, momentum=0.9), weight_decay=1e-3)
    >>> w = keras.Variable([1.0])
    >>> sgd.apply([tf.constant([0.0])], [w])     # no data gradient: g = 1e-3 · w
    >>> round(float(w.numpy()[0]), 6)
    0.9999
    """

    def __init__(self, optimizer, weight_decay, clipnorm=None, global_clipnorm=None,
                 clipvalue=None, name=None, **kwargs):
        optimizer = keras.optimizers.get(optimizer)
        if isinstance(optimizer, (keras.optimizers.LossScaleOptimizer, CoupledWeightDecay)):
            raise _validation.invalid(
                "optimizer", "a plain Keras optimizer (SGD, Adam, ...)",
                type(optimizer).__name__,
                hint="Wrap the plain optimizer; Keras adds loss scaling around this wrapper "
                     "under a mixed-precision policy.")
        inner_clipping = {k: getattr(optimizer, k) for k in ("clipnorm", "global_clipnorm",
                                                              "clipvalue")}
        if any(v is not None for v in inner_clipping.values()):
            raise _validation.invalid(
                "optimizer", "an optimizer without its own gradient clipping", inner_clipping,
                hint="Pass clipnorm/global_clipnorm/clipvalue to CoupledWeightDecay: it clips "
                     "the data gradient before adding the decay (DARTS' order); the inner "
                     "optimizer would clip gradient and decay together.")
        weight_decay = check_weight_decay("weight_decay", weight_decay)
        loss_scale_factor = kwargs.pop("loss_scale_factor", None) or optimizer.loss_scale_factor
        optimizer.loss_scale_factor = None  # the wrapper unscales before it clips
        super().__init__(learning_rate=0.0, weight_decay=weight_decay, clipnorm=clipnorm,
                         global_clipnorm=global_clipnorm, clipvalue=clipvalue,
                         loss_scale_factor=loss_scale_factor, name=name, **kwargs)
        self.inner_optimizer = optimizer

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "loss_scale_factor": self.loss_scale_factor,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("optimizer"),
                                                      custom_objects=custom_objects)
        return cls(inner, **config)

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            if not self.built:
                raise ValueError("Received gradients without variables before the optimizer "
                                 "was built; call `build(variables)` first or pass them.")
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        grads = list(grads)
        if self.loss_scale_factor is not None:
            grads = [None if g is None else g / self.loss_scale_factor for g in grads]
        present = [i for i, g in enumerate(grads) if g is not None]
        clipped = self._clip_data_gradients([grads[i] for i in present])
        for i, g in zip(present, clipped, strict=True):
            grads[i] = self._with_decay(g, trainable_variables[i])
        self.inner_optimizer.apply(grads, trainable_variables)

    def _clip_data_gradients(self, grads):
        """Clipped as on one device: under several replicas, each holding a share of the
        gradient, the shares are summed, clipped and split again (Keras alone would clip
        each share)."""
        replicas = _replicas_summing_gradients()
        clipping = self.clipnorm or self.global_clipnorm or self.clipvalue
        if replicas == 1 or not clipping or not grads:
            return self._clip_gradients(grads)
        summed = tf.distribute.get_replica_context().all_reduce(
            "sum", [tf.convert_to_tensor(g) for g in grads])
        return [g / replicas for g in self._clip_gradients(summed)]

    def _with_decay(self, gradient, variable):
        if not self.weight_decay or not self._use_weight_decay(variable):
            return gradient
        if isinstance(gradient, tf.IndexedSlices):  # the decay touches every row
            gradient = tf.convert_to_tensor(gradient)
        value = tf.convert_to_tensor(variable)
        decay = tf.cast(self.weight_decay / _replicas_summing_gradients(), value.dtype)
        return gradient + tf.cast(decay * value, gradient.dtype)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)


def _replicas_summing_gradients():
    """How many replicas' gradients the inner optimizer sums (1 outside a replica context):
    Keras scales each replica's loss by 1 / replicas, so each adds that share of the decay."""
    if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
        return tf.distribute.get_strategy().num_replicas_in_sync
    return 1


def check_weight_decay(name, value):
    """Returns `value` as a float if it is a finite number >= 0, else raises ValueError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise _validation.invalid(name, "a finite number >= 0", value)
    return float(value)


def with_weight_decay(optimizer_class, weight_decay, mode="coupled", clipnorm=None,
                      global_clipnorm=None, **kwargs):
    """`optimizer_class(**kwargs)` with weight decay in `mode`: "coupled" (L2 in the gradient,
    DARTS and PyTorch; a `CoupledWeightDecay`) or "decoupled" (Keras' own `weight_decay`,
    SGDW / AdamW). Clipping applies to the data gradient in both modes.

    >>> optimizer = with_weight_decay(keras.optimizers.Adam, 1e-3, learning_rate=3e-4,
    ...                               beta_1=0.5)
    >>> type(optimizer).__name__
    'CoupledWeightDecay'
    """
    if mode not in WEIGHT_DECAY_MODES:
        raise _validation.invalid("weight_decay_mode", f"one of {list(WEIGHT_DECAY_MODES)}",
                                  mode)
    weight_decay = check_weight_decay("weight_decay", weight_decay)
    if mode == "decoupled":
        return optimizer_class(weight_decay=weight_decay or None, clipnorm=clipnorm,
                               global_clipnorm=global_clipnorm, **kwargs)
    return CoupledWeightDecay(optimizer_class(**kwargs), weight_decay, clipnorm=clipnorm,
                              global_clipnorm=global_clipnorm)
