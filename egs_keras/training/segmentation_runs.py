"""Semantic segmentation runs: config + genotype → `SegmentationNetwork` → fit → mean IoU.
`run_training` (so egs-train and egs-pipeline) dispatches configs of task "segmentation" here.

>>> results = run_segmentation_training(config, "runs/voc", "darts_v2")   # doctest: +SKIP
>>> results["mean_iou"], results["iou"]["person"]                          # doctest: +SKIP

Records, checkpoints and resume behave as for classification: history.csv gains `mean_iou`
and one `iou_<class>` column per class (training and `val_` for the evaluation split).
"""

import keras

from egs_keras import metrics
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.data import image_datasets
from egs_keras.data import segmentation_datasets
from egs_keras.models import complexity
from egs_keras.models.segmentation_network import SegmentationNetwork
from egs_keras.training import checkpointing
from egs_keras.training import distributed_loop
from egs_keras.training import records

IGNORE_LABEL = segmentation_datasets.IGNORE_LABEL


def is_segmentation_task(config):
    """Whether a run config is a semantic segmentation one."""
    return config.get("task", "cnn") == "segmentation"


def sizes(config):
    """(crop size, evaluation size) of a config: its own, else its data set's."""
    spec = segmentation_datasets.get_dataset(config.data.name)
    return config.data.crop_size or spec.crop_size, config.data.eval_size or spec.eval_size


def build_segmentation_model(config, genotype, steps_per_epoch):
    """The compiled `SegmentationNetwork` of a config (create it inside a strategy's scope):
    SGD with momentum and a poly learning rate, cross-entropy ignoring label 255, IoU."""
    train = config.train
    spec = segmentation_datasets.get_dataset(config.data.name)
    model = SegmentationNetwork(
        search_space.load_genotype(genotype), num_classes=spec.num_classes, channels=3,
        filters=train.filters, num_cells=train.num_cells, output_stride=train.output_stride,
        aspp_filters=train.aspp_filters, aspp_rates=list(train.aspp_rates),
        decoder_filters=train.decoder_filters, low_level_filters=train.low_level_filters,
        dropout=train.dropout, seed=config.seed)
    learning_rate = keras.optimizers.schedules.PolynomialDecay(
        train.learning_rate, decay_steps=max(train.epochs * steps_per_epoch, 1),
        end_learning_rate=0.0, power=train.learning_rate_power)
    model.compile(
        optimizer=optimizers.with_weight_decay(
            keras.optimizers.SGD, train.weight_decay, train.weight_decay_mode,
            learning_rate=learning_rate, momentum=train.momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                        ignore_class=IGNORE_LABEL),
        metrics=[metrics.SegmentationIoU(spec.class_names, ignore_class=IGNORE_LABEL)],
        jit_compile=train.get("jit_compile", False))
    return model


def count_segmentation_network(config, genotype):
    """{"parameters", "multiply_adds", "input_shape"} at the config's evaluation size."""
    model = build_segmentation_model(config, genotype, steps_per_epoch=1)
    eval_size = sizes(config)[1]
    return {"parameters": complexity.count_parameters(model),
            "multiply_adds": model.count_multiply_adds(eval_size),
            "input_shape": [eval_size, eval_size, 3]}


def initialize_backbone(model, evaluation_model):
    """Copies the stem and cell weights of a trained `EvaluationNetwork` (ImageNet stem, same
    genotype, filters and cells) into `model`. Layers move whole: a layer's weights are copied
    when both networks have a layer at that path with the same variables and shapes (after a
    reduction replaced by dilation, the next cell preprocesses with a 1×1 conv instead of a
    factorized reduce; that layer keeps its initial values). Returns (copied, total)
    variable counts; a ValueError, before anything is copied, if the stems differ."""
    def layers(network):
        grouped = {}
        for variable in network.variables:
            key = checkpointing.variable_key(network, variable)
            if key.startswith(("stem", "cell_")):
                layer = "/".join(key.split("/")[:2])
                grouped.setdefault(layer, {})[key] = variable
        return grouped

    def shapes(variables):
        return {k: tuple(v.shape) for k, v in variables.items()}

    source, target = layers(evaluation_model), layers(model)
    moving = {layer: variables for layer, variables in target.items()
              if layer in source and shapes(source[layer]) == shapes(variables)}
    if any(layer.startswith("stem") and layer not in moving for layer in target):
        raise ValueError(
            "Received a backbone run whose stem differs from the segmentation network's; "
            "expected an ImageNet evaluation run (config.train.stem = 'imagenet') with the "
            "same genotype, config.train.filters and config.train.num_cells.")
    for layer, variables in moving.items():
        for key, variable in variables.items():
            variable.assign(source[layer][key])
    return (sum(len(v) for v in moving.values()), sum(len(v) for v in target.values()))


@records.owns_workdir
def run_segmentation_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes training) a segmentation network on `genotype`'s cells in
    `workdir`, evaluates it on the data set's evaluation split and returns {"mean_iou",
    "iou" (per class), "test_loss", "parameters", "multiply_adds", "model"}; the numbers
    also go to `<workdir>/results.json`."""
    from egs_keras.training import export_run  # noqa: PLC0415 (it imports this module)

    workdir, distribution, genotype = records.start_training_run(config, workdir, genotype,
                                                                 strategy)
    train, data = config.train, config.data
    records.set_graph_optimizer(train.graph_optimizer)
    spec = segmentation_datasets.get_dataset(data.name)
    crop_size, eval_size = sizes(config)
    examples, test = (segmentation_datasets.load_examples(data.name, split, data.data_dir or None)
                      for split in (spec.train_split, spec.test_split))
    steps = image_datasets.num_examples(examples) // train.batch_size

    keras.utils.set_random_seed(config.seed)  # initial weights: a function of the seed
    with distribution.scope():
        model = build_segmentation_model(config, genotype, steps)
        checkpoint, callbacks = records.run_callbacks_for(workdir, model, strategy=distribution)
    initial_epoch = checkpoint.restore()
    if initial_epoch == 0 and train.backbone_run:
        copied, total = initialize_backbone(
            model, export_run.load_training_run(train.backbone_run).model)
        print(f"Backbone: {copied} of {total} variables from {train.backbone_run}")
    batches, steps = segmentation_datasets.training_batches(
        examples, spec, crop_size, train.batch_size, config.seed, train.epochs, initial_epoch)
    test_batches = segmentation_datasets.evaluation_batches(test, spec, eval_size,
                                                            train.eval_batch_size)
    if initial_epoch < train.epochs:
        distributed_loop.fit(model, distribution, batches, epochs=train.epochs,
                             initial_epoch=initial_epoch, steps_per_epoch=steps,
                             validation_data=test_batches, callbacks=callbacks,
                             verbose=records.progress_verbosity(), checkpoint=checkpoint)
    scores = distributed_loop.evaluate(model, distribution, test_batches)
    results = {"mean_iou": float(scores["mean_iou"]),
               "iou": {name: float(scores[f"iou_{name}"]) for name in spec.class_names},
               "test_loss": float(scores["loss"]),
               "parameters": complexity.count_parameters(model),
               "multiply_adds": model.count_multiply_adds(eval_size),
               "eval_size": eval_size, "epochs": train.epochs}
    records.write_results(results, workdir, distribution)
    return {**results, "model": model}
