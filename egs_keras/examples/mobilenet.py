"""A MobileNetV2-style network whose blocks are searched with `EGSChoice`: each block picks
its depthwise kernel size {3, 5, 7} and expansion {3, 6}, or (where the shape allows) to be
skipped, under the measured-latency prior; the chosen network is derived, retrained from
scratch, compared with the same network fixed to its largest and to random blocks (test
accuracy, TensorFlow latency, and LiteRT latency float32 / int8 with the int8 file's
accuracy), and exported as a SavedModel. `--config.search.op_costs=litert` searches for LiteRT
latency instead of TensorFlow's training step.

    egs-mobilenet --config=configs/mobilenet_digits.py --workdir=runs/mobilenet

The shortest use, without the run around it:

>>> model = search_model(config.model, image_shape=(16, 16, 1), num_classes=10)
>>> model.compile(optimizer="sgd", loss=loss)                       # doctest: +SKIP
>>> model.fit(batches, epochs=4)                                     # doctest: +SKIP
>>> retrain = model.derive(weights="reinitialize")                   # doctest: +SKIP
"""

import json
import pathlib
import random
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from egs_keras import optimizers
from egs_keras import record_files
from egs_keras.costs import measures
from egs_keras.data import image_datasets
from egs_keras.export import export_classifier
from egs_keras.export import litert
from egs_keras.layers import EGSChoice
from egs_keras.models import SearchModel
from egs_keras.training import TemperatureScheduler
from egs_keras.training.temperature import ExponentialAnnealing
from egs_keras.training.workdir import directory_lock

KERNELS = (3, 5, 7)
EXPANSIONS = (3, 6)
SKIP = "skip"


def inverted_residual(input_shape, filters, stride, kernel, expansion, name):
    """MobileNetV2's block as a Functional model: 1×1 expansion, k×k depthwise, 1×1
    projection, batch norm after each, ReLU6 after the first two, a residual connection when
    the shape is kept."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(input_shape[-1] * expansion, 1, use_bias=False)(inputs)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv2D(filters, 1, use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    if stride == 1 and input_shape[-1] == filters:
        x = keras.layers.Add()([inputs, x])
    return keras.Model(inputs, x, name=name)


def block_candidates(input_shape, filters, stride, name):
    """The candidates of one searched block: every (kernel, expansion), and `skip` where the
    block keeps the shape."""
    candidates = [inverted_residual(input_shape, filters, stride, k, e, f"{name}_k{k}_e{e}")
                  for k in KERNELS for e in EXPANSIONS]
    if stride == 1 and input_shape[-1] == filters:
        candidates.append(keras.layers.Identity(name=f"{name}_{SKIP}"))
    return candidates


def search_model(model_config, image_shape, num_classes, search_config=None, seed=0):
    """The search network: a stem, `model_config.stages` of (filters, blocks, stride) with an
    `EGSChoice` per block, a 1×1 head and a linear classifier."""
    options = {} if search_config is None else dict(
        num_samples=search_config.num_samples, execution=search_config.execution,
        op_costs=search_config.op_costs or None,
        effectiveness_weight=search_config.effectiveness_weight,
        temperature=search_config.temperature_start)
    inputs = keras.Input(image_shape)
    x = keras.layers.Conv2D(model_config.stem, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    index = 0
    for filters, blocks, stride in model_config.stages:
        for b in range(blocks):
            name = f"block{index}"
            candidates = block_candidates(tuple(x.shape[1:]), filters,
                                          stride if b == 0 else 1, name)
            x = EGSChoice(candidates, seed=seed + index, name=name, **options)(x)
            index += 1
    x = keras.layers.Conv2D(model_config.head, 1, use_bias=False)(x)
    x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
    outputs = keras.layers.Dense(num_classes)(keras.layers.GlobalAveragePooling2D()(x))
    return SearchModel(inputs, outputs, name="mobilenet_search")


def largest_architecture(model):
    """Every block at its largest candidate: kernel 7, expansion 6."""
    largest = f"_k{KERNELS[-1]}_e{EXPANSIONS[-1]}"
    return {name: [n for n in choice.candidate_names if n.endswith(largest)]
            for name, choice in model.choices.items()}


def random_architecture(model, seed):
    """Every block at a candidate drawn uniformly (seeded)."""
    draw = random.Random(seed)
    return {name: [draw.choice(choice.candidate_names)]
            for name, choice in model.choices.items()}


def inference_latencies_ms(models, image_shape, batch_size, rounds=7, repeats=20):
    """{name: median milliseconds of one compiled inference of `batch_size` images} for
    {name: model}, measured side by side (`side_by_side_ms`)."""
    x = tf.random.stateless_normal([batch_size, *image_shape], seed=[0, 0])
    forwards = {name: tf.function(lambda x, m=model: m(x, training=False))
                for name, model in models.items()}
    return side_by_side_ms({name: lambda f=forward: f(x).numpy()
                            for name, forward in forwards.items()}, rounds, repeats)


def side_by_side_ms(calls, rounds=7, repeats=20):
    """{name: median milliseconds of `call()`} for {name: call}, measured side by side: in
    each round every call runs `repeats` times (after warm-up), so that a machine busier in
    one moment does not favour one of them; the median over the rounds' medians."""
    for call in calls.values():
        for _ in range(5):
            call()
    medians = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            medians[name].append(litert.median_milliseconds(call, repeats, warmup=0))
    return {name: round(statistics.median(m), 3) for name, m in medians.items()}


def litert_scores(models, train, test, spec, image_size, num_threads=1):
    """{name: {"litert_ms": {"float32", "int8"}, "int8_test_accuracy"}} for {name: model}:
    each converted to LiteRT float32 and int8 (calibrated on the first training images), timed
    side by side on one image (batch 1, as a deployed network answers), and the int8 file
    scored on the test split."""
    def images(split, count):
        batches = image_datasets.evaluation_batches(split, spec, image_size, count)
        return next(iter(batches))

    train_images = images(train.take(litert.REPRESENTATIVE_SAMPLES),
                          litert.REPRESENTATIVE_SAMPLES)[0].numpy()
    test_images, test_labels = (t.numpy() for t in images(test, 100_000))
    representative = litert.representative_inputs(train_images, "images")
    runners, scores = {}, {}
    for name, model in models.items():
        files = litert.convert_all(litert.classifier_signature(model), ["float32", "int8"],
                                   representative)
        for quantization, content in files.items():
            runners[name, quantization] = litert.LiteRTModel(content, num_threads)
        logits = runners[name, "int8"](images=test_images)["logits"]
        scores[name] = {"int8_test_accuracy": round(float(np.mean(
            np.argmax(logits, -1) == test_labels)), 4), "litert_ms": {}}
    one = test_images[:1]
    times = side_by_side_ms({key: lambda r=runner: r(images=one)
                             for key, runner in runners.items()})
    for (name, quantization), milliseconds in times.items():
        scores[name]["litert_ms"][quantization] = milliseconds
    return scores


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _weights_optimizer(section, steps):
    schedule = keras.optimizers.schedules.CosineDecay(section.learning_rate,
                                                      max(steps * section.epochs, 1))
    return optimizers.with_weight_decay(keras.optimizers.SGD, section.weight_decay,
                                        learning_rate=schedule, momentum=0.9)


def run_search(config, spec, image_size, train):
    """Searches the blocks on the train split; returns (search model, seconds)."""
    search = config.search
    keras.utils.set_random_seed(config.seed)
    model = search_model(config.model, (image_size, image_size, spec.channels),
                         spec.num_classes, search, config.seed)
    batches, steps = image_datasets.training_batches(
        train, spec, image_size, search.batch_size, config.seed, search.epochs, cutout=False)
    model.compile(optimizer=_weights_optimizer(search, steps), loss=_loss(),
                  metrics=["accuracy"],
                  arch_optimizer=optimizers.with_weight_decay(
                      keras.optimizers.Adam, search.arch_weight_decay,
                      learning_rate=search.arch_learning_rate, beta_1=0.5))
    start = time.perf_counter()
    model.fit(batches, epochs=search.epochs, steps_per_epoch=steps, verbose=0, shuffle=False,
              callbacks=[TemperatureScheduler(ExponentialAnnealing(
                  search.temperature_start, search.temperature_end,
                  max(search.epochs - 1, 1)))])
    return model, round(time.perf_counter() - start, 1)


def train_and_score(config, model, spec, image_size, train, test):
    """Trains a derived network from its fresh weights; returns its scores."""
    section = config.train
    batches, steps = image_datasets.training_batches(
        train, spec, image_size, section.batch_size, config.seed, section.epochs,
        cutout=False)
    model.compile(optimizer=_weights_optimizer(section, steps), loss=_loss(),
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(batches, epochs=section.epochs, steps_per_epoch=steps, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    evaluation = model.evaluate(image_datasets.evaluation_batches(test, spec, image_size,
                                                                  section.batch_size),
                                verbose=0, return_dict=True)
    return {"test_accuracy": round(float(evaluation["accuracy"]), 4),
            "parameters": measures.count_parameters(model),
            "train_seconds": round(seconds, 1)}


def run(config, workdir):
    """Search → derive → retrain (with the largest and a random network as baselines) →
    export, in `workdir`; returns the results, also written to `<workdir>/results.json`.
    Each finished stage is kept (`search.keras`, `<network>.keras` and
    `stage_<network>.json` for "searched", "largest" and "random"), so a run started
    again after a crash goes on from the first unfinished one; a finished run returns its
    results."""
    workdir = pathlib.Path(workdir)
    with directory_lock.claim(workdir):
        results_path = workdir / "results.json"
        if results_path.exists():
            return record_files.read_json(results_path, "the example's results")
        spec, image_size, (train, test) = image_datasets.load_config_splits(
            config.data, config.data.train_split, config.data.test_split)
        search_path = workdir / "search.keras"
        if search_path.exists():
            model = keras.models.load_model(search_path)
            seconds = record_files.read_json(workdir / "search.json", "the search's time")
        else:
            model, seconds = run_search(config, spec, image_size, train)
            record_files.write_json(workdir / "search.json", seconds)
            model.save(search_path)
        results = {"search_seconds": seconds, "architecture": model.architecture(),
                   "image_size": image_size, "latency_batch_size": config.latency_batch_size}
        candidates = {"searched": model.architecture(),
                      "largest": largest_architecture(model),
                      "random": random_architecture(model, config.seed)}
        for name, architecture in candidates.items():
            stage = workdir / f"stage_{name}.json"
            if stage.exists() and (workdir / f"{name}.keras").exists():
                results[name] = record_files.read_json(stage, f"the {name} network's scores")
                continue
            keras.utils.set_random_seed(config.seed)
            derived = model.derive(weights="reinitialize", architecture=architecture)
            results[name] = train_and_score(config, derived, spec, image_size, train, test)
            if name == "searched":
                results[name]["export"] = str(export_classifier(
                    derived, workdir / "export", config.data.name,
                    extra_files={"architecture.json": json.dumps(architecture, indent=2)}))
            derived.save(workdir / f"{name}.keras")
            record_files.write_json(stage, results[name])
        networks = {name: keras.models.load_model(workdir / f"{name}.keras")
                    for name in candidates}
        latencies = inference_latencies_ms(networks, (image_size, image_size, spec.channels),
                                           config.latency_batch_size)
        for name, latency in latencies.items():
            results[name]["latency_ms"] = latency
        if config.get("litert", False):
            for name, scores in litert_scores(networks, train, test, spec, image_size,
                                              config.get("litert_threads", 1)).items():
                results[name].update(scores)
        record_files.write_json(results_path, results)
        return results
