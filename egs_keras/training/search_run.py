"""The architecture search as a flag-free function: config → data → search network → fit →
genotype (JSON and pictures). `egs-search` and `egs-pipeline` call it.

>>> genotype = run_search(config, "runs/search")   # doctest: +SKIP

Resuming: started again with the same config and directory, the search continues from its last
checkpoint (weights, α, both optimizers, EGS sample counters, epoch); when it had finished, it
only derives the genotype again.
"""


import keras
import tensorflow as tf

from egs_keras import optimizers
from egs_keras.data import image_datasets
from egs_keras.models.search_network import EGSSearchNetwork
from egs_keras.training import language_runs
from egs_keras.training import records
from egs_keras.training import search_costs
from egs_keras.training import search_fit
from egs_keras.training import segmentation_runs
from egs_keras.training import strategies


def build_search_model(config, steps_per_epoch, op_costs=None):
    """The compiled `EGSSearchNetwork` of a config (create it inside a strategy's scope);
    `op_costs` as `search_costs.resolve_op_costs` returns them (resolved here, with
    latencies kept in memory, if not given)."""
    if op_costs is None:
        op_costs = search_costs.resolve_op_costs(config)
    search, spec = config.search, image_datasets.get_dataset(config.data.name)
    image_size = config.data.image_size or spec.image_size
    primitives = tuple(search.primitives)
    model = EGSSearchNetwork(
        num_classes=spec.num_classes, input_shape=(image_size, image_size, spec.channels),
        filters=search.filters, num_cells=search.num_cells, num_nodes=search.num_nodes,
        primitives=primitives, num_samples=search.num_samples,
        temperature=search.temperature_start, op_costs=op_costs,
        effectiveness_weight=search.effectiveness_weight, execution=search.execution,
        renormalize=search.renormalize, search_mode=search.search_mode, seed=config.seed,
        replica_sampling=search.replica_sampling)
    learning_rate = keras.optimizers.schedules.CosineDecay(
        search.learning_rate, decay_steps=max(search.epochs * steps_per_epoch, 1),
        alpha=search.learning_rate_min / search.learning_rate)
    mode = search.weight_decay_mode
    model.compile(
        optimizer=optimizers.with_weight_decay(
            keras.optimizers.SGD, search.weight_decay, mode, global_clipnorm=5.0,
            learning_rate=learning_rate, momentum=search.momentum),
        arch_optimizer=optimizers.with_weight_decay(
            keras.optimizers.Adam, search.arch_weight_decay, mode,
            learning_rate=search.arch_learning_rate, beta_1=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=search.get("jit_compile", False))
    return model


@records.owns_workdir
def run_search(config, workdir, strategy="default"):
    """Runs (or resumes) the search of `config` in `workdir`; returns the derived genotype,
    also written to `<workdir>/genotype.json` with pictures in `<workdir>/cells/`. A config of
    task "rnn" searches a recurrent cell (`language_runs.run_language_search`); one of task
    "segmentation" runs its `cell_search` (a CNN search on classification data)."""
    if language_runs.is_language_task(config):
        return language_runs.run_language_search(config, workdir, strategy)
    if segmentation_runs.is_segmentation_task(config):  # its cells come from a CNN search
        return run_search(config.cell_search, workdir, strategy)
    workdir = records.prepare_workdir(workdir)
    distribution = strategies.get_strategy(strategy)
    records.write_config(config, workdir, write=strategies.is_chief(distribution))
    search, data = config.search, config.data
    records.set_graph_optimizer(search.graph_optimizer)
    spec, image_size, (train, valid) = image_datasets.load_config_splits(
        data, search.train_split, search.valid_split)
    steps = image_datasets.num_examples(train) // search.batch_size

    op_costs = search_costs.resolve_op_costs(
        config, records.worker_directory(workdir, distribution), distribution)
    keras.utils.set_random_seed(config.seed)  # initial weights: a function of the seed
    with distribution.scope():
        model = build_search_model(config, steps, op_costs)
        checkpoint, callbacks = records.run_callbacks_for(workdir, model, strategy=distribution)
    initial_epoch = checkpoint.restore()

    batches, steps = image_datasets.training_batches(
        train, spec, image_size, search.batch_size, config.seed, search.epochs, initial_epoch,
        cutout=search.cutout)
    if search.search_mode == "bilevel":
        valid_batches, valid_steps = image_datasets.training_batches(
            valid, spec, image_size, search.batch_size, config.seed + 1, search.epochs,
            initial_epoch, cutout=search.cutout)
        batches, steps = tf.data.Dataset.zip((batches, valid_batches)), min(steps, valid_steps)
    validation = image_datasets.evaluation_batches(valid, spec, image_size, search.batch_size)
    return search_fit.fit_and_derive(model, config, workdir, batches, steps, validation,
                                     callbacks, initial_epoch, distribution, checkpoint,
                                     op_costs)
