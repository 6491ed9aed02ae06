"""`tf.distribute` strategies by name, for the `--strategy` flag of every trainer.

>>> get_strategy("default").num_replicas_in_sync
1

* "default": TensorFlow's default strategy (one device, no distribution).
* "one_device": `OneDeviceStrategy` on the first GPU, else the CPU.
* "mirrored": `MirroredStrategy` over all local GPUs; without GPUs, over the logical CPU
  devices (`use_cpu_replicas(n)` splits the CPU into n, e.g. to test or benchmark replicas on
  a laptop; the trainers' `--cpu_replicas`). Batches given to `fit` are global and split
  across replicas; each replica draws its own architecture sample.
"""

import tensorflow as tf

from egs_keras import _validation

STRATEGIES = ("default", "one_device", "mirrored")


def get_strategy(name):
    """The strategy called `name` (see the module docstring)."""
    if name not in STRATEGIES:
        raise _validation.invalid(
            "strategy", f"one of {list(STRATEGIES)}", name,
            hint="Multi-worker and TPU strategies are not available in this version.")
    if name == "default":
        return tf.distribute.get_strategy()
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
