"""The one loop every run goes through, search or training: build the model in the strategy's
scope → restore the last checkpoint → fit the remaining epochs → finish. A search's finish
derives and writes its genotype (`search`); a training run's evaluates and writes its results
(`training_runs.train_and_evaluate`). The checkpoint is written by the callbacks of the run's
`Workdir` at the end of every finite epoch, and nowhere else.

>>> with Workdir.open(path, strategy) as workdir:                     # doctest: +SKIP
...     workdir.accept_config(config)
...     genotype = search(workdir, config, build=build, batches=batches,
...                       validation=validation)
"""

import sys

import keras
import tensorflow as tf

from egs_keras.costs import prior
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import derivation
from egs_keras.training import distributed_loop
from egs_keras.training import temperature


def run(workdir, *, seed, graph_optimizer, epochs, build, batches, finish, validation=None,
        callbacks=(), state_callbacks=None, after_restore=None):
    """Runs (or resumes) the run of `workdir` (a `Workdir`) and returns `finish(model)`.

    Args:
        seed: the initial weights are a function of it.
        graph_optimizer: Grappler on or off for the functions this run traces.
        epochs: the run's last epoch; a run already there only finishes.
        build: `() -> compiled model`, called in the strategy's scope.
        batches: `(initial_epoch) -> (training batches from that epoch on, steps per epoch)`.
        finish: `(model) -> result`, after the fit (or at once, for a finished run).
        validation: batches scored after every epoch (`val_*` in the logs), or None.
        callbacks: callbacks run before the recording ones (e.g. a temperature schedule).
        state_callbacks: `(model) -> [callbacks]` with checkpointed state (e.g.
            `WeightAveraging`), applied instead of the fit when the run had finished.
        after_restore: `(model, initial_epoch)`, once the checkpoint is restored.
    """
    set_graph_optimizer(graph_optimizer)
    keras.utils.set_random_seed(seed)
    with workdir.strategy.scope():
        model = build()
        state = state_callbacks(model) if state_callbacks else []
        checkpoint, recording = workdir.checkpoint_and_callbacks(model, state_callbacks=state)
    initial_epoch = checkpoint.restore()
    if after_restore is not None:
        after_restore(model, initial_epoch)
    if initial_epoch < epochs:
        training, steps = batches(initial_epoch)
        distributed_loop.fit(model, workdir.strategy, training, epochs=epochs,
                             initial_epoch=initial_epoch, steps_per_epoch=steps,
                             validation_data=validation, callbacks=[*callbacks, *recording],
                             verbose=progress_verbosity(), checkpoint=checkpoint)
    else:
        for callback in state:  # e.g. NT-ASGD: finish with the averaged weights
            callback.apply()
    return finish(model)


def search(workdir, config, *, build, batches, validation, op_costs=None):
    """Runs (or resumes) the search `config.search` describes and returns the genotype it
    derives (`derivation.derive`, written into `workdir`).

    `op_costs()` resolves the prior's costs (measured latencies are timed here, with the
    run's graph optimiser setting) and `build(op_costs)` builds the search network on them.
    Every epoch the τ schedule steps and the chief records the genotype of that epoch (with
    cost tables of a measure, its cost by them, e.g. `derived_latency_ms`, joins the epoch's
    logs)."""
    search_section = config.search
    graph_optimizer = search_section.get("graph_optimizer", True)
    set_graph_optimizer(graph_optimizer)
    op_costs = op_costs() if op_costs is not None else None

    callbacks = [temperature.TemperatureScheduler(temperature.schedule_for(search_section))]
    if workdir.chief:  # the genotype of every epoch (and its cost, by tables of a measure)
        cost = None
        if isinstance(op_costs, dict):
            cost = (prior.LOG_NAMES[search_section.op_costs],
                    lambda genotype: prior.derived_cost(genotype, op_costs))
        callbacks.append(run_callbacks.ArchitectureRecorder(
            workdir.path, workdir.path / "logs", cost=cost,
            derivation={"strategy": derivation.recorder_strategy(config),
                        **derivation.derivation_options(config)}))

    return run(workdir, seed=config.seed, graph_optimizer=graph_optimizer,
               epochs=search_section.epochs, build=lambda: build(op_costs), batches=batches,
               validation=validation, callbacks=callbacks,
               finish=lambda model: derivation.derive(model, config, workdir, validation))


def progress_verbosity():
    """Keras `verbose`: a progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def set_graph_optimizer(enabled):
    """Switches TensorFlow's Grappler graph optimiser on or off for the functions traced from
    now on in this process (search networks start much faster without it; see
    docs/benchmarks.md)."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})
