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
import ml_collections

from egs_keras import _validation
from egs_keras import metrics
from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.data import image_datasets
from egs_keras.data import segmentation_datasets
from egs_keras.export import litert
from egs_keras.export import segmentation
from egs_keras.models import segmentation_network
from egs_keras.models.segmentation_network import SegmentationNetwork
from egs_keras.runs import classification
from egs_keras.runs.task_contract import Task
from egs_keras.training import checkpointing
from egs_keras.training import config as run_config
from egs_keras.training import training_runs

IGNORE_LABEL = segmentation_datasets.IGNORE_LABEL


def default_config():
    """PASCAL VOC 2012 semantic segmentation on searched cells (DeepLabv3+ settings: output
    stride 16, ASPP rates 6/12/18, 256-channel head and decoder, 48-channel low-level
    projection, poly learning rate 0.007 with power 0.9, 512² crops, scales 0.5–2)."""
    config = ml_collections.ConfigDict()
    config.task = "segmentation"
    config.seed = 0
    # The cells: a published genotype name or a genotype JSON file; "" makes egs-pipeline
    # search them first with `cell_search` (a complete CNN config, classification data).
    config.genotype = ""
    config.cell_search = classification.default_config()

    config.data = ml_collections.ConfigDict()
    config.data.name = "voc2012"          # a key of data.segmentation_datasets.DATASETS
    config.data.data_dir = ""
    config.data.crop_size = 0             # 0: the data set's (VOC 512)
    config.data.eval_size = 0             # 0: the data set's (VOC 512)

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 300             # ≈ 27k steps of 16 on VOC train (1,464 images)
    config.train.batch_size = 16
    config.train.eval_batch_size = 8
    config.train.filters = 48             # DARTS' ImageNet network: 14 cells × 48 filters
    config.train.num_cells = 14
    config.train.output_stride = 16
    config.train.aspp_filters = 256
    config.train.aspp_rates = [6, 12, 18]  # at output stride 16; scaled for 8 and 32
    config.train.decoder_filters = 256
    config.train.low_level_filters = 48
    config.train.dropout = 0.1
    config.train.learning_rate = 0.007
    config.train.learning_rate_power = 0.9  # poly: lr · (1 − step / steps) ** power
    config.train.momentum = 0.9
    config.train.weight_decay = 4e-5
    config.train.weight_decay_mode = "coupled"   # DeepLab: L2 regularisation of the weights
    # An ImageNet evaluation run (egs-train --config=configs/imagenet_eval.py) whose stem and
    # cells initialise the backbone; "" trains from scratch.
    config.train.backbone_run = ""
    config.train.graph_optimizer = True
    config.train.jit_compile = False      # XLA (TPUs: True)
    config.export = run_config.export_section()
    return config


def validate_config(config):
    """Checks the fields of a segmentation config and, without a genotype, its cell search's
    (the shared ones: `training.config.check_shared`); returns `config` or raises a
    ValueError."""
    spec = segmentation_datasets.get_dataset(config.data.name)
    if config.genotype:
        search_space.load_genotype(config.genotype)
    else:
        classification.validate_config(run_config.check_shared(config.cell_search))
    train = config.train
    for field in ("epochs", "batch_size", "eval_batch_size", "filters", "num_cells",
                  "aspp_filters", "decoder_filters", "low_level_filters"):
        _validation.check_positive_int(f"config.train.{field}", train[field])
    for field in ("learning_rate", "learning_rate_power"):
        _validation.check_positive_float(f"config.train.{field}", train[field])
    if train.output_stride not in segmentation_network.OUTPUT_STRIDES:
        raise _validation.invalid("config.train.output_stride",
                                  f"one of {list(segmentation_network.OUTPUT_STRIDES)}",
                                  train.output_stride)
    run_config.check_rate(train, "train", "dropout")
    run_config.check_rate(train, "train", "momentum")
    run_config.check_weight_decay(train, "train", ("weight_decay",))
    for field in ("crop_size", "eval_size"):
        size = config.data[field] or getattr(spec, field)
        if size <= 0 or size % train.output_stride:
            raise _validation.invalid(
                f"config.data.{field}", "0 (the data set's) or a positive multiple of "
                f"config.train.output_stride ({train.output_stride})", config.data[field])
    return config


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


TASK = Task(
    name="segmentation", default_config=default_config, validate=validate_config,
    data_sets=data_sets, search=run_search, train=run_training, rebuild=rebuild,
    export=export, litert_signature=litert_signature, count=count_network)
