"""Training a searched architecture from scratch, as a flag-free function: config + genotype →
evaluation network → fit → test accuracy. `egs-train` and `egs-pipeline` call it.

>>> results = run_training(config, "runs/train", genotype)   # doctest: +SKIP
>>> results["test_accuracy"]                                 # doctest: +SKIP

Resuming works as for the search: the same call continues from the last checkpoint, and a
finished run only evaluates again.
"""

import keras
import tensorflow as tf

from egs_keras import optimizers
from egs_keras import search_space
from egs_keras.data import image_datasets
from egs_keras.models import complexity
from egs_keras.models.evaluation_network import EvaluationNetwork
from egs_keras.training import callbacks as run_callbacks
from egs_keras.training import distributed_loop
from egs_keras.training import language_runs
from egs_keras.training import records
from egs_keras.training import segmentation_runs


def count_evaluation_network(config, genotype):
    """{"parameters", "parameters_with_auxiliary", "multiply_adds", "input_shape"} of the
    evaluation network of `config.train` for `genotype`, without training (`egs-count`);
    for a segmentation config, those of its segmentation network."""
    if segmentation_runs.is_segmentation_task(config):
        return segmentation_runs.count_segmentation_network(config, genotype)
    model = build_evaluation_model(config, search_space.load_genotype(genotype),
                                   steps_per_epoch=1)
    return {"parameters": complexity.count_parameters(model),
            "parameters_with_auxiliary": complexity.count_parameters(model,
                                                                     include_auxiliary=True),
            "multiply_adds": complexity.count_multiply_adds(model),
            "input_shape": list(model.image_shape)}


@keras.saving.register_keras_serializable(package="egs_keras")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy of integer labels against logits, with label smoothing ε: the target puts
    1 − ε on the label and ε / K on every class (ImageNet training in DARTS uses ε = 0.1)."""

    def __init__(self, num_classes, label_smoothing=0.0, name="smoothed_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), self.num_classes)
        labels = labels * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        return keras.losses.categorical_crossentropy(labels, y_pred, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing}


def learning_rate_schedule(train, steps_per_epoch):
    """The learning rate of `config.train` over its epochs: "cosine" (DARTS' CIFAR-10
    evaluation: cosine to 0) or "poly" (lr · (1 − step / steps)^`learning_rate_power`)."""
    steps = max(train.epochs * steps_per_epoch, 1)
    if train.learning_rate_schedule == "poly":
        return keras.optimizers.schedules.PolynomialDecay(
            train.learning_rate, decay_steps=steps, end_learning_rate=0.0,
            power=train.learning_rate_power)
    return keras.optimizers.schedules.CosineDecay(train.learning_rate, decay_steps=steps)


def build_evaluation_model(config, genotype, steps_per_epoch):
    """The compiled `EvaluationNetwork` of a config (create it inside a strategy's scope)."""
    train, spec = config.train, image_datasets.get_dataset(config.data.name)
    image_size = config.data.image_size or spec.image_size
    model = EvaluationNetwork(
        genotype, num_classes=spec.num_classes,
        input_shape=(image_size, image_size, spec.channels), filters=train.filters,
        num_cells=train.num_cells, stem=train.stem, auxiliary_weight=train.auxiliary_weight,
        seed=config.seed)
    learning_rate = learning_rate_schedule(train, steps_per_epoch)
    if train.label_smoothing:
        loss = SparseCategoricalCrossentropyWithSmoothing(spec.num_classes, train.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=optimizers.with_weight_decay(
            keras.optimizers.SGD, train.weight_decay, train.weight_decay_mode,
            global_clipnorm=5.0, learning_rate=learning_rate, momentum=train.momentum),
        loss=loss, metrics=["accuracy"], jit_compile=train.get("jit_compile", False))
    return model


@records.owns_workdir
def run_training(config, workdir, genotype, strategy="default"):
    """Trains (or resumes training) the network of `genotype` in `workdir`, evaluates it on the
    test split and returns {"test_accuracy", "test_loss", "parameters", "multiply_adds",
    "model"}; the numbers are also written to `<workdir>/results.json`. A config of task
    "rnn" trains a language model (`language_runs.run_language_training`), one of task
    "segmentation" a segmentation network (`segmentation_runs.run_segmentation_training`)."""
    if language_runs.is_language_task(config):
        return language_runs.run_language_training(config, workdir, genotype, strategy)
    if segmentation_runs.is_segmentation_task(config):
        return segmentation_runs.run_segmentation_training(config, workdir, genotype, strategy)
    workdir, distribution, genotype = records.start_training_run(config, workdir, genotype,
                                                                 strategy)
    train, data = config.train, config.data
    spec = image_datasets.get_dataset(data.name)
    spec, image_size, (examples, test) = image_datasets.load_config_splits(
        data, spec.train_split, spec.test_split)
    steps = image_datasets.num_examples(examples) // train.batch_size

    keras.utils.set_random_seed(config.seed)  # initial weights: a function of the seed
    with distribution.scope():
        model = build_evaluation_model(config, genotype, steps)
        checkpoint, callbacks = records.run_callbacks_for(workdir, model, strategy=distribution)
    initial_epoch = checkpoint.restore()
    batches, steps = image_datasets.training_batches(
        examples, spec, image_size, train.batch_size, config.seed, train.epochs, initial_epoch,
        cutout=train.cutout)
    test_batches = image_datasets.evaluation_batches(test, spec, image_size, train.batch_size)
    if train.drop_path_rate > 0:
        callbacks.insert(0, run_callbacks.DropPathScheduler(train.drop_path_rate, train.epochs))
    if initial_epoch < train.epochs:
        distributed_loop.fit(model, distribution, batches, epochs=train.epochs,
                             initial_epoch=initial_epoch, steps_per_epoch=steps,
                             validation_data=test_batches, callbacks=callbacks,
                             verbose=records.progress_verbosity(), checkpoint=checkpoint)
    scores = distributed_loop.evaluate(model, distribution, test_batches)
    results = {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"],
               "parameters": complexity.count_parameters(model),
               "multiply_adds": complexity.count_multiply_adds(model),
               "epochs": train.epochs}
    records.write_results(results, workdir, distribution)
    return {**results, "model": model}
