"""Temperature annealing for Ensemble Gumbel-Softmax layers.

A schedule maps a step (an epoch or a training step) to τ; `TemperatureScheduler` assigns it to
the `temperature_variable` of every `EnsembleGumbelSoftmax` layer of the model. Because τ is a
variable, the change reaches train steps that are already compiled (also with XLA).

Example:

>>> scheduler = TemperatureScheduler(LinearAnnealing(start=5.0, end=1.0, num_steps=50))
>>> # model.fit(x, y, epochs=50, callbacks=[scheduler])
"""

import math

import keras

from egs_keras import _compat
from egs_keras import _validation


@keras.saving.register_keras_serializable(package="egs_keras")
class LinearAnnealing:
    """τ(step) = start + (end − start) · min(step, num_steps) / num_steps.

    Args:
        start: τ at step 0 (> 0).
        end: τ from step `num_steps` on (> 0).
        num_steps: number of steps (epochs or batches) over which τ moves from start to end.

    Example:

    >>> LinearAnnealing(5.0, 1.0, num_steps=4)(2)
    3.0
    """

    def __init__(self, start, end, num_steps):
        self.start = _validation.check_positive_float("start", start)
        self.end = _validation.check_positive_float("end", end)
        self.num_steps = _validation.check_positive_int("num_steps", num_steps)

    def get_config(self):
        return {"start": self.start, "end": self.end, "num_steps": self.num_steps}

    def __call__(self, step):
        return self.start + (self.end - self.start) * self._fraction(step)

    def _fraction(self, step):
        return min(max(float(step), 0.0), self.num_steps) / self.num_steps


@keras.saving.register_keras_serializable(package="egs_keras")
class ExponentialAnnealing(LinearAnnealing):
    """τ(step) = start · (end / start)^(min(step, num_steps) / num_steps): geometric decay.

    Example:

    >>> round(ExponentialAnnealing(10.0, 0.1, num_steps=2)(1), 6)
    1.0
    """

    def __call__(self, step):
        return self.start * math.pow(self.end / self.start, self._fraction(step))


class TemperatureScheduler(keras.callbacks.Callback):
    """Sets τ of the model's `EnsembleGumbelSoftmax` layers from a schedule, every epoch or step.

    The temperature in use is also written to the epoch logs as `temperature`, so it appears in
    the History, CSV and TensorBoard records.

    Args:
        schedule: callable step -> τ, e.g. `LinearAnnealing` or `ExponentialAnnealing`.
        update_every: "epoch" (step = epoch index, correct after a resume with
            `initial_epoch` or `BackupAndRestore`) or "step" (step = the optimizer's iteration
            count, which checkpoints save).
        layers: the layers to drive; default: every layer of the model with a
            `temperature_variable`.
        verbose: 1 prints τ at the start of every epoch.
    """

    def __init__(self, schedule, update_every="epoch", layers=None, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise _validation.invalid(
                "schedule", "a callable mapping a step to a temperature", schedule
            )
        if update_every not in ("epoch", "step"):
            raise _validation.invalid("update_every", 'one of "epoch", "step"', update_every)
        self.schedule = schedule
        self.update_every = update_every
        self.layers = layers
        self.verbose = verbose
        self._targets = None

    def on_train_begin(self, logs=None):
        self._targets = self._find_targets()

    def on_epoch_begin(self, epoch, logs=None):
        if self.update_every == "epoch":
            self._assign(epoch)
        if self.verbose:
            print(f"Epoch {epoch + 1}: temperature = {self.current_temperature():.4f}")

    def on_train_batch_begin(self, batch, logs=None):
        if self.update_every == "step":
            self._assign(int(self.model.optimizer.iterations.numpy()))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["temperature"] = self.current_temperature()

    def current_temperature(self):
        """τ of the first driven layer, as a Python float."""
        return float(keras.ops.convert_to_numpy(self._targets[0].temperature_variable))

    def _assign(self, step):
        value = _validation.check_positive_float("temperature", self.schedule(step))
        for layer in self._targets:
            layer.temperature_variable.assign(value)

    def _find_targets(self):
        layers = self.layers
        if layers is None:
            layers = [
                layer for layer in _compat.flatten_layers(self.model)
                if hasattr(layer, "temperature_variable")
            ]
        layers = list(layers)
        if not layers:
            raise ValueError(
                "TemperatureScheduler found no layer with a `temperature_variable` in the model, "
                "expected at least one EnsembleGumbelSoftmax layer. Pass `layers=[...]` if the "
                "layers are not tracked by the model."
            )
        return layers


def schedule_for(search):
    """The τ schedule of a search config: linear or exponential from start to end over the
    search's epochs."""
    if search.temperature_schedule not in SCHEDULES:
        raise _validation.invalid("search.temperature_schedule", f"one of {list(SCHEDULES)}",
                                  search.temperature_schedule)
    return SCHEDULES[search.temperature_schedule](
        search.temperature_start, search.temperature_end, max(search.epochs - 1, 1))


SCHEDULES = {"linear": LinearAnnealing, "exponential": ExponentialAnnealing}  # by config name
