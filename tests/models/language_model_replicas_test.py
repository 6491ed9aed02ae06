"""Carried hidden states under MirroredStrategy (two logical CPU devices, in a subprocess):
each replica carries the state of its own rows of every global batch."""

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
    import numpy as np
    from egs_keras import search_space
    from egs_keras.layers import GenotypeRNNCell
    from egs_keras.models import RecurrentLanguageModel

    def model():
        genotype = search_space.published_genotype("darts_rnn_v2").cells["recurrent"]
        cell = GenotypeRNNCell(8, genotype.to_dict()["nodes"], genotype.concat, seed=0)
        return RecurrentLanguageModel(20, cell, batch_size=4)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = model()
    single = model()
    for a, b in zip(single.trainable_variables, mirrored.trainable_variables, strict=True):
        a.assign(b)
    tokens = np.random.default_rng(0).integers(0, 20, size=(4, 10)).astype("int32")

    def rows(part):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(part[2 * ctx.replica_id_in_sync_group:][:2]))

    step = tf.function(lambda x: strategy.run(
        lambda x: mirrored(x, training=False, stream="evaluation"), args=(x,)))
    step(rows(tokens[:, :6]))
    second = np.concatenate([t.numpy() for t in
                             strategy.experimental_local_results(step(rows(tokens[:, 6:])))])
    whole, _ = single.forward(tokens)
    shapes = [list(v.shape) for v in mirrored.transient_variables]
    print(json.dumps({"difference": float(np.abs(second - whole[:, 6:]).max()),
                      "state_shapes": shapes}))
    """
)


def test_each_replica_carries_the_state_of_its_rows():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    output = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=300, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["state_shapes"] == [[2, 8]] * 3  # train, validation, evaluation: 4 rows / 2
    # The second half of the text, continued from the carried states, equals the whole text
    # read at once on one device.
    assert result["difference"] < 1e-5


CLIPPING_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from egs_keras import search_space
    from egs_keras.layers import GenotypeRNNCell
    from egs_keras.metrics import Perplexity
    from egs_keras.models import RecurrentLanguageModel

    def language_model(clip):
        genotype = search_space.published_genotype("darts_rnn_v2").cells["recurrent"]
        cell = GenotypeRNNCell(8, genotype.to_dict()["nodes"], genotype.concat, seed=0)
        model = RecurrentLanguageModel(20, cell, batch_size=4)
        model.compile(keras.optimizers.SGD(1.0, global_clipnorm=clip),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[Perplexity()])
        return model

    rng = np.random.default_rng(0)
    batches = tf.data.Dataset.from_tensor_slices(
        (rng.integers(0, 20, (3, 4, 6)), rng.integers(0, 20, (3, 4, 6))))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result = {}
    for clip in (0.01, 100.0):  # clipping active, inactive
        with strategy.scope():
            mirrored = language_model(clip)
        single = language_model(clip)
        for a, b in zip(single.trainable_variables, mirrored.trainable_variables, strict=True):
            a.assign(b)
        mirrored.fit(batches, epochs=1, verbose=0, shuffle=False)
        single.fit(batches, epochs=1, verbose=0, shuffle=False)
        result[str(clip)] = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in
                                zip(single.trainable_variables, mirrored.trainable_variables))
    print(json.dumps(result))
    """
)


def test_clipped_steps_on_two_replicas_equal_one_device():
    """`global_clipnorm` clips the gradient of the global batch, as on one device (Keras alone
    would clip each replica's share; see `replica_steps.synchronized_gradients`), with
    the carried states and the embedding's gradient synchronised too."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    output = subprocess.run([sys.executable, "-c", CLIPPING_SCRIPT], capture_output=True,
                            text=True, env=env, timeout=300, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert max(result.values()) < 1e-6
