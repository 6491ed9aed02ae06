"""Training where Keras' `fit` cannot go: a custom loop with `fit`'s contract for
`MultiWorkerMirroredStrategy` (Keras 3.15's `fit` fails under it converting per-replica
values).

`fit(model, strategy, batches, ...)` calls `model.fit` under every other strategy. Under a
multi-worker strategy it runs the model's own `train_step` (so joint and bilevel search, the
auxiliary head, everything `fit` runs) in `strategy.run` on the next distributed batch, one
compiled step at a time, and calls the same Keras callbacks at the same points (epoch and batch
begin/end, with the same logs, `val_` ones after evaluating `validation_data` with
`test_step`), so records, checkpoints, schedules and the non-finite guard behave as under
`fit`. Batches are global and split across all replicas of all workers.

>>> history = fit(model, strategy, batches, epochs=10, steps_per_epoch=100,
...               callbacks=callbacks)                                  # doctest: +SKIP
"""

import signal
import sys
import weakref

import keras
import tensorflow as tf

from egs_keras.training import strategies

PREEMPTED_EXIT_CODE = 42


def fit(model, strategy, batches, *, epochs, steps_per_epoch, initial_epoch=0,
        callbacks=(), validation_data=None, verbose=0, checkpoint=None):
    """`model.fit(batches, ...)`, or its multi-worker equivalent; returns the History.

    Multi-worker runs with a `checkpoint` (a `RunCheckpoint`, restored by the caller) also
    survive preemption: when any worker receives SIGTERM, every worker saves the checkpoint at
    the same step (the flag travels with each step's all-reduce) and the process exits with
    `PREEMPTED_EXIT_CODE`; started again, the cluster resumes at that step of that epoch
    (`checkpoint.resume_step`), on the batches it would have seen.
    """
    if not strategies.uses_custom_loop(strategy):
        return model.fit(batches, epochs=epochs, initial_epoch=initial_epoch,
                         steps_per_epoch=steps_per_epoch, validation_data=validation_data,
                         callbacks=list(callbacks), verbose=verbose, shuffle=False)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, model=model, epochs=epochs, steps=steps_per_epoch,
        verbose=0)
    train_step = _distributed_train_step(model, strategy)
    first_step = getattr(checkpoint, "resume_step", 0) if initial_epoch < epochs else 0
    if first_step:
        print(f"Resuming at epoch {initial_epoch + 1}, step {first_step + 1} "
              f"(saved when the run was preempted).", flush=True)
    iterator = iter(_distribute(strategy, batches.skip(first_step)))
    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    with _TerminationFlag(enabled=checkpoint is not None) as terminated:
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            for step in range(first_step if epoch == initial_epoch else 0, steps_per_epoch):
                callback_list.on_train_batch_begin(step)
                logs = train_step(next(iterator), tf.constant(terminated.received))
                if bool(logs.pop("preempted") > 0):  # only ever set with a checkpoint
                    checkpoint.save(epoch, step + 1)
                    _exit_preempted(epoch, step, checkpoint)
                callback_list.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            logs = _as_floats(model.get_metrics_result())
            if validation_data is not None:
                scores = evaluate(model, strategy, validation_data)
                logs.update({f"val_{name}": value for name, value in scores.items()})
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    callback_list.on_train_end(logs)
    return model.history


class _TerminationFlag:
    """If `enabled`, `received` turns True on SIGTERM while in the `with` block (instead of
    the process ending; the previous handler is restored after it)."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.received = False

    def __enter__(self):
        if self.enabled:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        del signum, frame
        self.received = True

    def __exit__(self, *exception):
        if self.enabled:
            signal.signal(signal.SIGTERM, self._previous)


def _exit_preempted(epoch, step, checkpoint):
    print(f"Preempted: a worker received SIGTERM; saved epoch {epoch + 1}, step {step + 1} "
          f"to {checkpoint.directory}. Start the same command on every worker to resume.",
          file=sys.stderr, flush=True)
    raise SystemExit(PREEMPTED_EXIT_CODE)


def evaluate(model, strategy, batches):
    """`model.evaluate(batches, return_dict=True)`, or its multi-worker equivalent (every
    batch split across all replicas)."""
    if not strategies.uses_custom_loop(strategy):
        return model.evaluate(batches, verbose=0, return_dict=True)
    test_step = _distributed_test_step(model, strategy)
    model.reset_metrics()
    for batch in _distribute(strategy, batches):
        test_step(batch)
    scores = _as_floats(model.get_metrics_result())
    model.reset_metrics()
    return scores


def _distribute(strategy, batches):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(batches.with_options(options))


_STEPS = weakref.WeakKeyDictionary()  # model → {step name: compiled distributed step}


def _distributed_train_step(model, strategy):
    """The model's `train_step` on every replica's part of a distributed batch; also
    all-reduces each worker's SIGTERM flag into logs["preempted"] (> 0: someone got it)."""
    steps = _STEPS.setdefault(model, {})
    if "train" not in steps:
        @tf.function(reduce_retracing=True)
        def distributed(batch, terminated):
            logs = _reduced(strategy, strategy.run(model.train_step, args=(batch,)))
            flags = strategy.run(lambda flag: tf.cast(flag, tf.float32), args=(terminated,))
            logs["preempted"] = strategy.reduce("SUM", flags, axis=None)
            return logs

        steps["train"] = distributed
    return steps["train"]


def forget_test_step(model):
    """Drops the compiled multi-worker test step of `model`, so the next `evaluate` traces it
    again (after the model's inference changed, e.g. `fixed_architecture`)."""
    _STEPS.get(model, {}).pop("test", None)


def _distributed_test_step(model, strategy):
    """The model's `test_step` on every replica's part of a distributed batch."""
    steps = _STEPS.setdefault(model, {})
    if "test" not in steps:
        @tf.function(reduce_retracing=True)
        def distributed(batch):
            return _reduced(strategy, strategy.run(model.test_step, args=(batch,)))

        steps["test"] = distributed
    return steps["test"]


def _reduced(strategy, outputs):
    return {name: strategy.reduce("MEAN", value, axis=None) for name, value in outputs.items()}


def _as_floats(results):
    return {name: float(value) for name, value in results.items()}
