"""`tf.distribute` strategies by name, for the `--strategy` flag of every trainer.

>>> get_strategy("default").num_replicas_in_sync
1

* "default": TensorFlow's default strategy (one device, no distribution).
* "one_device": `OneDeviceStrategy` on the first GPU, else the CPU.
* "mirrored": `MirroredStrategy` over all local GPUs; without GPUs, over the logical CPU
  devices (`use_cpu_replicas(n)` splits the CPU into n, e.g. to test or benchmark replicas on
  a laptop; the trainers' `--cpu_replicas`). Batches given to `fit` are global and split
  across replicas; each replica draws its own architecture sample.
* "multi_worker": `MultiWorkerMirroredStrategy` over the cluster in the `TF_CONFIG`
  environment variable (the same command on every worker, each with its own task index; the
  chief is task "chief" 0, or "worker" 0 when there is no chief). Keras' `fit` does not run
  under it, so the trainers use `distributed_loop.fit` (same callbacks and records); only the
  chief writes records, genotypes and exports.
* "tpu": `TPUStrategy` on the TPU that `TPUClusterResolver` finds (a TPU VM, or the TPU named
  by the `TPU_NAME` environment variable).

Batch sizes in configs are global (summed over replicas); learning rates are not rescaled.
"""

import json
import os

import tensorflow as tf

from egs_keras import _validation

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


_CREATED = {}


def get_strategy(name):
    """The strategy called `name` (see the module docstring), created once per process: a
    pipeline's search and training share it (two `MirroredStrategy` objects over the same
    devices would mix up each other's collective operations). "multi_worker" and "tpu" must
    be created before TensorFlow runs anything else; the trainers do it at start-up. A
    `tf.distribute.Strategy` is returned as it is: every run function's `strategy` argument
    takes a name or a strategy."""
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise _validation.invalid("strategy", f"one of {list(STRATEGIES)}", name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _CREATED:
        _CREATED[name] = _create(name)
    return _CREATED[name]


def _create(name):
    if name == "multi_worker":
        check_cluster_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        return _tpu_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([cpu.name for cpu in cpus])
    return tf.distribute.MirroredStrategy()


def use_cpu_replicas(count):
    """Splits the first CPU into `count` logical devices, so that "mirrored" runs `count`
    replicas without GPUs. Call it before TensorFlow runs anything (the trainers do, for
    `--cpu_replicas`); `count` ≤ 1 changes nothing.

    >>> use_cpu_replicas(2)                                  # doctest: +SKIP
    >>> get_strategy("mirrored").num_replicas_in_sync        # doctest: +SKIP
    2
    """
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * int(count))
    except RuntimeError:
        raise ValueError(
            f"Received cpu_replicas={count} after TensorFlow had started its devices; split the "
            "CPU at the very start of the program (before any TensorFlow operation).") from None


_TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                      '"task": {"type": "worker", "index": 0}}\'')


def check_cluster_config():
    """The parsed `TF_CONFIG`; a ValueError saying what to set when it is missing or wrong."""
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        raise ValueError(
            "Received --strategy=multi_worker without a TF_CONFIG environment variable; "
            f"expected the cluster and this worker's task, e.g. {_TF_CONFIG_EXAMPLE} (index 1 "
            "on the second worker). On one machine use --strategy=mirrored.")
    try:
        config = json.loads(text)
        tasks = config["cluster"][config["task"]["type"]]
        index = int(config["task"]["index"])
        if not 0 <= index < len(tasks):
            raise IndexError(index)
    except (ValueError, KeyError, TypeError, IndexError):
        raise ValueError(
            f"Received TF_CONFIG={text!r}, expected JSON with a cluster and a task of it, e.g. "
            f"{_TF_CONFIG_EXAMPLE}.") from None
    return config


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ValueError(
            f"Received --strategy=tpu, but no TPU was found ({type(error).__name__}: "
            f"{error}). Expected a TPU VM, or TPU_NAME naming a TPU this machine can reach; "
            "elsewhere use --strategy=mirrored or default.") from None
    return tf.distribute.TPUStrategy(resolver)


def uses_custom_loop(strategy):
    """Whether runs under `strategy` train with `distributed_loop.fit` instead of Keras'."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_id(strategy):
    """(task type, task index) of this process in a multi-worker cluster, else None."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not uses_custom_loop(strategy) or resolver is None or not resolver.task_type:
        return None
    return resolver.task_type, int(resolver.task_id)


def is_chief(strategy):
    """Whether this process writes the run's records: always, except on the non-chief
    workers of a multi-worker cluster."""
    worker = worker_id(strategy)
    if worker is None:
        return True
    task_type, index = worker
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and index == 0
                                    and "chief" not in cluster)
