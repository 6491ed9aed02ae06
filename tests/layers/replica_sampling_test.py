"""Each replica of a MirroredStrategy draws its own, reproducible code (two logical CPUs), or,
with replica_sampling="shared", replica 0's code."""

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
    from egs_keras import ops
    from egs_keras.layers import EnsembleGumbelSoftmax

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        layer = EnsembleGumbelSoftmax(num_samples=3, logits_shape=(14, 8), seed=4)
        layer.build()
    step = tf.function(lambda: strategy.run(lambda: layer(training=True)))
    result = {"codes": [], "expected": []}
    for i in range(2):
        result["codes"].append(
            [c.numpy().tolist() for c in strategy.experimental_local_results(step())])
        result["expected"].append([
            tf.function(lambda r: ops.ensemble_gumbel_softmax(
                tf.zeros([14, 8]), 3, 1.0, seed=4, step=i, replica=r))(r).numpy().tolist()
            for r in range(2)])
    result["count"] = int(layer.sample_count.numpy())
    with strategy.scope():
        shared = EnsembleGumbelSoftmax(num_samples=3, logits_shape=(14, 8), seed=4,
                                       replica_sampling="shared")
        shared.build()
    shared_step = tf.function(lambda: strategy.run(lambda: shared(training=True)))
    result["shared"] = [c.numpy().tolist()
                        for c in strategy.experimental_local_results(shared_step())]
    print(json.dumps(result))
    """
)


def test_replicas_draw_their_own_codes_from_seed_step_and_replica():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    output = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300,
        check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    for codes, expected in zip(result["codes"], result["expected"], strict=True):
        assert codes[0] != codes[1]  # replicas differ
        assert codes == expected  # replica r, step i: exactly ops(seed, step=i, replica=r)
    assert result["codes"][0] != result["codes"][1]  # steps differ
    assert result["count"] == 2  # the sample counter advances once per step, not per replica
    # "shared": every replica draws replica 0's code of the same (seed, step).
    assert result["shared"] == [result["expected"][0][0]] * 2


STEP_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from egs_keras.models import EGSSearchNetwork

    def network():
        return EGSSearchNetwork(num_classes=2, input_shape=(8, 8, 3), filters=4, num_cells=2,
                                num_nodes=4, num_samples=2, seed=3, execution="dense",
                                replica_sampling="shared")

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss_and_gradients(model, x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        return loss, [g for g in gradients if g is not None]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    y = (np.arange(8) % 2).astype("int32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = network()
    single = network()
    single.set_weights(mirrored.get_weights())

    batches = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(8))
    step = tf.function(lambda x, y: strategy.run(
        lambda x, y: loss_and_gradients(mirrored, x, y), args=(x, y)))
    loss, grads = step(*next(iter(batches)))
    # Keras scales each replica's loss by 1 / replicas; the all-reduce sums (as the optimizer
    # does with the gradients).
    loss = float(strategy.reduce("SUM", loss, axis=None))
    grads = [strategy.reduce("SUM", g, axis=None).numpy() for g in grads]

    # One device, the same global batch as the two replicas' halves with the same code.
    halves = []
    for part in (slice(0, 4), slice(4, 8)):
        for variable in single.variables:
            if "sample_count" in variable.path:
                variable.assign(0)
        halves.append(loss_and_gradients(single, x[part], y[part]))
    expected_loss = float(np.mean([h[0] for h in halves]))
    expected_grads = [np.mean([h[1][i] for h in halves], axis=0) for i in range(len(grads))]
    print(json.dumps({
        "loss": [loss, expected_loss],
        "max_gradient_difference": max(float(np.abs(g - e).max())
                                       for g, e in zip(grads, expected_grads)),
        "max_gradient": max(float(np.abs(e).max()) for e in expected_grads),
        "gradients": len(grads),
    }))
    """
)


def test_a_shared_sample_step_equals_one_device_on_the_same_global_batch():
    """Two replicas drawing one code: the all-reduced loss and gradients (weights and α) are
    those of one device averaging the two halves of the global batch with that code (batch
    norm uses each replica's own batch, as it does for each half)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    output = subprocess.run(
        [sys.executable, "-c", STEP_SCRIPT], capture_output=True, text=True, env=env,
        timeout=300, check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    mirrored, single = result["loss"]
    assert abs(mirrored - single) < 1e-5
    assert result["gradients"] > 20 and result["max_gradient"] > 1e-3
    assert result["max_gradient_difference"] < 1e-5
