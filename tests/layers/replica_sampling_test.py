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
