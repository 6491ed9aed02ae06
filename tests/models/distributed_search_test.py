"""The search network under MirroredStrategy with model.fit (two logical CPU devices, in a
subprocess because devices are configured before TensorFlow starts)."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from egs_keras.models import EGSSearchNetwork

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = EGSSearchNetwork(num_classes=2, input_shape=(8, 8, 3), filters=4,
                                 num_cells=3, num_nodes=4, num_samples=2, seed=3,
                                 execution="sparse")
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                      arch_optimizer=keras.optimizers.Adam(0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    labels = np.arange(64) % 2
    images = rng.normal(size=(64, 8, 8, 3)).astype("float32") + labels[:, None, None, None]
    before = [v.numpy().copy() for v in model.arch_variables]
    history = model.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(16),
                        epochs=3, verbose=0, shuffle=False)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "loss": history.history["loss"],
        "moved": [float(np.abs(v.numpy() - b).max())
                  for v, b in zip(model.arch_variables, before)],
        "count": int(model.decisions["normal"].sample_count.numpy()),
        "genotype_kind": model.genotype().kind,
    }))
    """
)


def test_mirrored_search_under_fit_updates_alpha_once_per_step():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    output = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=600, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert all(moved > 1e-3 for moved in result["moved"])  # α of both cell types trained
    assert result["loss"][-1] < result["loss"][0]
    assert result["count"] == 12  # 4 steps × 3 epochs: one draw per step, not per replica
    assert result["genotype_kind"] == "cnn"
