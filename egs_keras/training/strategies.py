"""`tf.distribute` strategies by name, for the `--strategy` flag of every trainer.

>>> get_strategy("default").num_replicas_in_sync
1

* "default": TensorFlow's default strategy (one device, no distribution).
* "one_device": `OneDeviceStrategy` on the first GPU, else the CPU.
* "mirrored": `MirroredStrategy` over all local GPUs (or the CPU); batches given to `fit`
  are global and split across replicas. Each replica draws its own architecture sample.
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
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.MirroredStrategy()
