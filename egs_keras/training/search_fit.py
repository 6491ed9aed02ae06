"""The part every search run shares (CNN and RNN): fit with the temperature schedule and the
architecture recorder, then derive the genotype and write it with its pictures."""

import tensorflow as tf

from egs_keras import record_files
from egs_keras import visualize
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import distributed_loop
from egs_keras.training import records
from egs_keras.training import search_costs
from egs_keras.training import strategies
from egs_keras.training import temperature


def fit_and_derive(model, config, workdir, batches, steps, validation, callbacks,
                   initial_epoch, strategy=None, checkpoint=None, op_costs=None):
    """Fits `model` on `batches` (`steps` per epoch) from `initial_epoch` to
    `config.search.epochs`, unless already there; returns the derived genotype (derived as
    `config.search.derive` and `edges_per_node` say), also written to
    `<workdir>/genotype.json` with pictures in `<workdir>/cells/` (by the chief only, under
    a multi-worker `strategy`, which trains with `distributed_loop.fit`, saving `checkpoint`
    if preempted). With `op_costs` tables of a measure (`search_costs`), each epoch logs the
    derived cells' cost by them, e.g. `derived_latency_ms`."""
    search = config.search
    strategy = strategy or tf.distribute.get_strategy()
    chief = strategies.is_chief(strategy)
    derivation = derivation_options(config)
    cost = None
    if isinstance(op_costs, dict):  # tables of a measure: log the derived cells' cost
        cost = (search_costs.LOG_NAMES[search.op_costs],
                lambda genotype: search_costs.derived_cost(genotype, op_costs))
    recorder = run_callbacks.ArchitectureRecorder(workdir, workdir / "logs",
                                                  derivation=derivation, cost=cost)
    callbacks = [temperature.TemperatureScheduler(temperature.schedule_for(search)),
                 *([recorder] if chief else []), *callbacks]
    if initial_epoch < search.epochs:
        distributed_loop.fit(model, strategy, batches, epochs=search.epochs,
                             initial_epoch=initial_epoch, steps_per_epoch=steps,
                             validation_data=validation, callbacks=callbacks,
                             verbose=records.progress_verbosity(), checkpoint=checkpoint)
    genotype = model.genotype(**derivation)
    if chief:
        record_files.atomic_write_text(workdir / "genotype.json", genotype.to_json() + "\n")
        visualize.save_cell_pictures(genotype, workdir / "cells")
    return genotype


def derivation_options(config):
    """`model.genotype()` arguments of a search config: strategy, seed, edges per node (0 in
    the config: every edge)."""
    search = config.search
    return {"strategy": search.derive, "seed": config.seed,
            "edges_per_node": search.edges_per_node or None}
