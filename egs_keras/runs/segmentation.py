"""Semantic segmentation (config task "segmentation"): a `SegmentationNetwork` on a
genotype's cells → fit → mean IoU → SavedModel. Its cells come from `config.genotype` (a
published name or a JSON file) or, when that is empty, from a CNN search (`config.cell_search`,
on classification data).

>>> results = run_training(config, "runs/voc", "darts_v2")     # doctest: +SKIP
>>> results["mean_iou"], results["iou"]["person"]               # doctest: +SKIP

Records, checkpoints and resume behave as for classification: history.csv gains `mean_iou`
and one `iou_<class>` column per class (training and `val_` for the evaluation split).
"""

import keras

from egs_keras import metrics
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.data import image_datasets
from egs_keras.data import segmentation_datasets
from egs_keras.export import litert
from egs_keras.export import segmentation
from egs_keras.models.segmentation_network import SegmentationNetwork
from egs_keras.runs import classification
from egs_keras.training import checkpointing
from egs_keras.training import records
from egs_keras.training import training_runs

IGNORE_LABEL = segmentation_datasets.IGNORE_LABEL


def data_sets(config):
    """[(TFDS builder, data_dir)] a run of `config` reads (`tasks.check_data`): its
    segmentation data, and its cell search's images unless it trains a given genotype."""
    own = [(segmentation_datasets.get_dataset(config.data.name).tfds_name,
            config.data.data_dir or None)]
    return own if config.get("genotype") else own + classification.data_sets(
        config.cell_search)


def sizes(config):
    """(crop size, evaluation size) of a config: its own, else its data set's."""
    spec = segmentation_datasets.get_dataset(config.data.name)
    return config.data.crop_size or spec.crop_size, config.data.eval_size or spec.eval_size


def run_search(config, workdir, strategy="default"):
    """The cells' search: the CNN search of `config.cell_search` (see
    `classification.run_search`)."""
    return classification.run_search(config.cell_search, workdir, strategy)


def build_segmentation_model(config, genotype, steps_per_epoch):
    """The compiled `SegmentationNetwork` of a config (create it inside a strategy's scope):
    SGD with momentum and a poly learning rate, cross-entropy ignoring label 255, IoU."""
    train = config.train
    spec = segmentation_datasets.get_dataset(config.data.name)
    model = SegmentationNetwork(
        genotype, num_classes=spec.num_classes, channels=3,
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


def count_network(config, genotype):
    """{"parameters", "multiply_adds", "input_shape"} at the config's evaluation size."""
    model = build_segmentation_model(config, search_space.load_genotype(genotype),
                                     steps_per_epoch=1)
    eval_size = sizes(config)[1]
    return {"parameters": measures.count_parameters(model),
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
def run_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes training) a segmentation network on `genotype`'s cells in
    `workdir`, evaluates it on the data set's evaluation split and returns {"mean_iou",
    "iou" (per class), "test_loss", "parameters", "multiply_adds", "eval_size", "epochs",
    "model"}; the numbers also go to `<workdir>/results.json`. With
    `config.train.backbone_run` (an ImageNet classification run), a new run starts from its
    stem and cells."""
    train, data = config.train, config.data
    spec = segmentation_datasets.get_dataset(data.name)
    crop_size, eval_size = sizes(config)

    def training_data(workdir):
        del workdir
        examples, test = (
            segmentation_datasets.load_examples(data.name, split, data.data_dir or None)
            for split in (spec.train_split, spec.test_split))
        test_batches = segmentation_datasets.evaluation_batches(test, spec, eval_size,
                                                                train.eval_batch_size)

        def batches(initial_epoch):
            return segmentation_datasets.training_batches(
                examples, spec, crop_size, train.batch_size, config.seed, train.epochs,
                initial_epoch)

        return training_runs.TrainingData(
            image_datasets.num_examples(examples) // train.batch_size, batches,
            validation=test_batches, evaluations={"test": test_batches})

    def start_from_backbone(model, initial_epoch):
        if initial_epoch == 0 and train.backbone_run:
            backbone = training_runs.load_training_run(train.backbone_run,
                                                       classification.rebuild)
            copied, total = initialize_backbone(model, backbone.model)
            print(f"Backbone: {copied} of {total} variables from {train.backbone_run}")

    def summarize(model, scores):
        test = scores["test"]
        return {"mean_iou": float(test["mean_iou"]),
                "iou": {name: float(test[f"iou_{name}"]) for name in spec.class_names},
                "test_loss": float(test["loss"]),
                "parameters": measures.count_parameters(model),
                "multiply_adds": model.count_multiply_adds(eval_size),
                "eval_size": eval_size, "epochs": train.epochs}

    return training_runs.train_and_evaluate(
        config, workdir, genotype, strategy, data=training_data, summarize=summarize,
        build=lambda genotype, steps: build_segmentation_model(config, genotype, steps),
        after_restore=start_from_backbone)


def rebuild(config, genotype, train_dir):
    """(model, state callbacks, extras) of a training run, to load its checkpoint into."""
    del train_dir
    return build_segmentation_model(config, genotype, steps_per_epoch=1), [], {}


def litert_signature(run):
    """(the LiteRT `Signature` of a loaded `TrainingRun` at the evaluation size, its int8
    calibration inputs: the first training images as evaluation pads them)."""
    spec = segmentation_datasets.get_dataset(run.config.data.name)
    eval_size = sizes(run.config)[1]
    examples = segmentation_datasets.load_examples(run.config.data.name, spec.train_split,
                                                   run.config.data.data_dir or None)
    images = next(iter(segmentation_datasets.evaluation_batches(
        examples.take(litert.REPRESENTATIVE_SAMPLES), spec, eval_size,
        litert.REPRESENTATIVE_SAMPLES)))[0]
    return (litert.segmenter_signature(run.model, eval_size),
            litert.representative_inputs(images.numpy(), "images"))


def export(run, base, version, extra_files):
    """Writes the SavedModel of a loaded `TrainingRun` (`segmentation.export_segmenter`)."""
    return segmentation.export_segmenter(run.model, base, run.config.data.name, version,
                                         extra_files=extra_files,
                                         warmup_size=sizes(run.config)[1])
