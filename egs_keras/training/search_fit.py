"""The part every search run shares (CNN and RNN): fit with the temperature schedule and the
architecture recorder, then derive the genotype and write it with its pictures."""

import tensorflow as tf

from egs_keras import visualize
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import distributed_loop
from egs_keras.training import records
from egs_keras.training import strategies
from egs_keras.training import temperature


def fit_and_derive(model, config, workdir, batches, steps, validation, callbacks,
                   initial_epoch, strategy=None, checkpoint=None):
    """Fits `model` on `batches` (`steps` per epoch) from `initial_epoch` to
    `config.search.epochs`, unless already there; returns the derived genotype, also written
    to `<workdir>/genotype.json` with pictures in `<workdir>/cells/` (by the chief only, under
    a multi-worker `strategy`, which trains with `distributed_loop.fit`, saving `checkpoint`
    if preempted)."""
    search = config.search
    strategy = strategy or tf.distribute.get_strategy()
    chief = strategies.is_chief(strategy)
    callbacks = [temperature.TemperatureScheduler(temperature.schedule_for(search)),
                 *([run_callbacks.ArchitectureRecorder(workdir, workdir / "logs")] if chief
                   else []), *callbacks]
    if initial_epoch < search.epochs:
        distributed_loop.fit(model, strategy, batches, epochs=search.epochs,
                             initial_epoch=initial_epoch, steps_per_epoch=steps,
                             validation_data=validation, callbacks=callbacks,
                             verbose=records.progress_verbosity(), checkpoint=checkpoint)
    genotype = model.genotype(strategy=search.derive, seed=config.seed)
    if chief:
        genotype.save(workdir / "genotype.json")
        visualize.save_cell_pictures(genotype, workdir / "cells")
    return genotype
