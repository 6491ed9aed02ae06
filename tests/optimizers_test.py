"""Coupled weight decay: the update equations against DARTS' (PyTorch's) closed form."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras.optimizers import CoupledWeightDecay
from egs_keras.optimizers import with_weight_decay


def _run(optimizer, gradients, initial):
    """Applies each gradient function of the weights in turn; returns the weights."""
    w = keras.Variable(np.asarray(initial, "float32"))
    for gradient in gradients:
        optimizer.apply([tf.constant(gradient(w.numpy()), tf.float32)], [w])
    return w.numpy()


def test_sgd_momentum_steps_equal_the_darts_update():
    lr, momentum, wd = 0.1, 0.9, 0.05
    data = [np.array([0.3, -0.2, 0.1]), np.array([-0.4, 0.5, 0.2]), np.array([0.1, 0.1, -0.3])]
    w0 = np.array([1.0, -2.0, 0.5])
    # PyTorch SGD: g ← ∇L + wd·w; buf ← μ·buf + g; w ← w − lr·buf
    w, buf = w0.copy(), np.zeros(3)
    for g in data:
        buf = momentum * buf + g + wd * w
        w = w - lr * buf
    optimizer = CoupledWeightDecay(keras.optimizers.SGD(lr, momentum=momentum), wd)
    found = _run(optimizer, [lambda _, g=g: g for g in data], w0)
    np.testing.assert_allclose(found, w, atol=1e-6)


def test_adam_steps_equal_the_darts_update():
    lr, beta_1, beta_2, eps, wd = 0.01, 0.5, 0.999, 1e-7, 0.3
    data = [np.array([0.3, -0.2, 1e-3]), np.array([-0.4, 0.5, 2e-3])]
    w0 = np.array([1.0, -2.0, 0.5])
    # Adam on g = ∇L + wd·w (Keras places ε as √v + ε before the bias correction of v)
    w, m, v = w0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(data, start=1):
        g = g + wd * w
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        w = w - lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (np.sqrt(v) + eps)
    optimizer = CoupledWeightDecay(
        keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=beta_2, epsilon=eps), wd)
    found = _run(optimizer, [lambda _, g=g: g for g in data], w0)
    np.testing.assert_allclose(found, w, atol=1e-6)


def _decay_only(optimizer, steps=2000):
    w = keras.Variable([1.0])
    zero = tf.zeros([1])

    @tf.function
    def run():
        for _ in tf.range(steps):
            optimizer.apply([zero], [w])

    run()
    return float(w.numpy()[0])


def test_the_decay_figures_of_the_issue():
    """2,000 steps without data gradient: DARTS' weights end at 0.861 (Keras' decoupled decay:
    0.985), DARTS' α at 0.48 (decoupled: 0.9994)."""
    def sgd():
        return keras.optimizers.SGD(0.025, momentum=0.9)

    assert _decay_only(with_weight_decay(keras.optimizers.SGD, 3e-4, learning_rate=0.025,
                                         momentum=0.9)) == pytest.approx(0.861, abs=1e-3)
    assert _decay_only(CoupledWeightDecay(sgd(), 3e-4)) == pytest.approx(0.8612, abs=1e-4)
    decoupled = keras.optimizers.SGD(0.025, momentum=0.9, weight_decay=3e-4)
    assert _decay_only(decoupled) == pytest.approx(0.985, abs=1e-3)
    alpha = with_weight_decay(keras.optimizers.Adam, 1e-3, learning_rate=3e-4, beta_1=0.5,
                              epsilon=1e-8)
    assert _decay_only(alpha) == pytest.approx(0.4825, abs=2e-3)
    keras_alpha = with_weight_decay(keras.optimizers.Adam, 1e-3, mode="decoupled",
                                    learning_rate=3e-4, beta_1=0.5)
    assert _decay_only(keras_alpha) == pytest.approx(0.9994, abs=1e-4)


def test_clipping_applies_to_the_data_gradient_only():
    """DARTS clips ∇L, then the optimizer adds wd·w: a huge gradient is cut to the clip norm
    and the decay comes on top."""
    optimizer = CoupledWeightDecay(keras.optimizers.SGD(1.0), 0.5, global_clipnorm=1.0)
    found = _run(optimizer, [lambda _: np.array([300.0, 400.0])], [2.0, 2.0])
    np.testing.assert_allclose(found, [2.0 - 0.6 - 1.0, 2.0 - 0.8 - 1.0], atol=1e-6)


def test_none_gradients_and_excluded_variables_get_no_decay():
    optimizer = CoupledWeightDecay(keras.optimizers.SGD(1.0), 0.5)
    decayed, skipped, excluded = (keras.Variable([1.0], name=n)
                                  for n in ("kernel", "unused", "bias"))
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    optimizer.apply([tf.zeros([1]), None, tf.zeros([1])], [decayed, skipped, excluded])
    assert [float(v.numpy()[0]) for v in (decayed, skipped, excluded)] == [0.5, 1.0, 1.0]


def test_sparse_gradients_are_decayed_on_every_row():
    optimizer = CoupledWeightDecay(keras.optimizers.SGD(1.0), 0.5)
    table = keras.Variable(np.ones([3, 2], "float32"))
    rows = tf.IndexedSlices(tf.ones([1, 2]), indices=tf.constant([1]), dense_shape=[3, 2])
    optimizer.apply([rows], [table])
    np.testing.assert_allclose(table.numpy(), [[0.5, 0.5], [-0.5, -0.5], [0.5, 0.5]])


def test_bad_arguments_say_what_to_change():
    with pytest.raises(ValueError, match="weight_decay.*>= 0"):
        CoupledWeightDecay(keras.optimizers.SGD(0.1), -1e-4)
    with pytest.raises(ValueError, match="Pass clipnorm/global_clipnorm/clipvalue"):
        CoupledWeightDecay(keras.optimizers.SGD(0.1, global_clipnorm=5.0), 3e-4)
    with pytest.raises(ValueError, match="plain Keras optimizer"):
        CoupledWeightDecay(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)), 0.1)
    with pytest.raises(ValueError, match="weight_decay_mode"):
        with_weight_decay(keras.optimizers.SGD, 3e-4, mode="l2")


def _tiny_model():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, name="dense")(inputs)
    return keras.Model(inputs, outputs)


def test_keras_round_trip_and_checkpoint_keep_the_inner_state(tmp_path):
    model = _tiny_model()
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
    model.compile(CoupledWeightDecay(keras.optimizers.SGD(schedule, momentum=0.9), 3e-4,
                                     global_clipnorm=5.0), loss="mse")
    x, y = np.ones([8, 3], "float32"), np.zeros([8, 2], "float32")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 4
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, CoupledWeightDecay)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    momenta = [v.numpy() for v in model.optimizer.inner_optimizer.variables if "momentum" in v.path]
    restored = [v.numpy() for v in loaded.optimizer.inner_optimizer.variables
                if "momentum" in v.path]
    assert momenta and all(np.allclose(a, b) for a, b in zip(momenta, restored, strict=True))
    loaded.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert int(loaded.optimizer.iterations.numpy()) == 6


def test_mixed_precision_unscales_before_the_decay():
    """Keras wraps the optimizer in a LossScaleOptimizer (scale 2^15): the decay must see the
    unscaled gradient. The kernel's data gradient is exactly 0 (zero inputs)."""
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _tiny_model()
        model.compile(CoupledWeightDecay(keras.optimizers.SGD(0.5), 0.1), loss="mse")
        kernel = model.get_layer("dense").kernel
        before = kernel.numpy().copy()
        model.fit(np.zeros([4, 3], "float32"), np.ones([4, 2], "float32"), epochs=1,
                  batch_size=4, verbose=0)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        np.testing.assert_allclose(kernel.numpy(), before * (1 - 0.5 * 0.1), rtol=1e-6)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from egs_keras.optimizers import CoupledWeightDecay

    def train(strategy):
        with strategy.scope():
            inputs = keras.Input((3,))
            model = keras.Model(inputs, keras.layers.Dense(
                2, kernel_initializer="ones", bias_initializer="ones")(inputs))
            model.compile(CoupledWeightDecay(keras.optimizers.SGD(0.1, momentum=0.9), 0.2,
                                             global_clipnorm=1.0), loss="mse")
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
        model.fit(x.astype("float32"), y.astype("float32"), batch_size=8, epochs=2,
                  shuffle=False, verbose=0)
        return [w.tolist() for w in model.get_weights()]

    print(json.dumps({"one": train(tf.distribute.OneDeviceStrategy("/cpu:0")),
                      "two": train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))}))
    """
)


def test_two_mirrored_replicas_take_the_one_device_step():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    output = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True,
                            text=True, env=env, timeout=300, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    for one, two in zip(result["one"], result["two"], strict=True):
        np.testing.assert_allclose(two, one, atol=1e-6)
