"""SearchModel: searching a user's own Keras graph with EGSChoice blocks, and deriving the
plain Keras model it chose."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras.layers import EGSChoice
from egs_keras.layers import EGSMixedOp
from egs_keras.layers import EnsembleGumbelSoftmax
from egs_keras.models import SearchModel
from egs_keras.training import TemperatureScheduler


def _shifted(seed, n=512):
    """Images and the same images moved 2 pixels left: only a 5×5 kernel can see the target."""
    x = np.random.default_rng(seed).normal(size=(n, 8, 8, 1)).astype("float32")
    y = np.zeros_like(x)
    y[:, :, :-2] = x[:, :, 2:]
    return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_moves_to_the_only_kernel_that_sees_the_target(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    outputs = EGSChoice([keras.layers.Conv2D(1, k, padding="same", use_bias=False,
                                             name=f"conv{k}") for k in (1, 3, 5)],
                        seed=seed, name="kernel")(inputs)
    model = SearchModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse",
                  arch_optimizer=keras.optimizers.Adam(0.05))
    x, y = _shifted(seed)
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    assert model.architecture() == {"kernel": ["conv5"]}
    assert model.probabilities()["kernel_decision"].numpy()[2] > 0.6
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert {"temperature", "alpha_entropy", "active_ops"} <= set(history.history)


@pytest.mark.parametrize("execution", ["dense", "sparse"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_search_finds_the_costliest_kernel_the_data_needs_under_the_latency_prior(
        seed, execution):
    """The paper's default prior (λ = 0.5, l from measured latency) favours the cheap 1×1 and
    3×3 kernels; the target (every channel moved 2 pixels) needs the 5×5, the costliest: the
    data must outvote the prior, with the paper's gradient (dense) and its unbiased sparse
    estimate alike."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 24, 24, 16)).astype("float32")
    y = np.zeros_like(x)
    y[:, :, :-2] = x[:, :, 2:]
    inputs = keras.Input((24, 24, 16))
    choice = EGSChoice([keras.layers.Conv2D(16, k, padding="same", use_bias=False,
                                            name=f"conv{k}") for k in (1, 3, 5)],
                       op_costs="latency", execution=execution, seed=seed, name="kernel")
    model = SearchModel(inputs, choice(inputs))
    costs = choice.decision.op_costs
    assert costs[2] > costs[0]  # 25 times the work: the prior is against the 5×5
    prior = choice.decision.probabilities().numpy()
    assert prior[2] < prior[0] and choice.decision.effectiveness_weight == 0.5
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse",
                  arch_optimizer=keras.optimizers.Adam(0.05))
    model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    assert model.architecture() == {"kernel": ["conv5"]}
    assert model.probabilities()["kernel_decision"].numpy()[2] > 0.45


def _block(x, index, execution):
    """A MobileNet-like block choosing its kernel size, or a batch-normalised one."""
    kernels = [keras.Sequential([keras.layers.DepthwiseConv2D(k, padding="same"),
                                 keras.layers.Conv2D(6, 1, activation="relu")],
                                name=f"b{index}_k{k}") for k in (3, 5)]
    normalised = keras.Sequential([keras.layers.Conv2D(6, 3, padding="same"),
                                   keras.layers.BatchNormalization()], name=f"b{index}_bn")
    return EGSChoice([*kernels, normalised], num_samples=2, execution=execution, seed=index,
                     name=f"block{index}")(x)


def _search_model(execution="dense"):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", name="stem")(inputs)
    x = _block(x, 0, execution)
    x = _block(x, 1, execution)
    head = EGSChoice([keras.layers.Dense(4, name="linear"),
                      keras.Sequential([keras.layers.Dense(8, activation="relu"),
                                        keras.layers.Dense(4)], name="mlp")],
                     reduction="mean", seed=9, name="head")
    outputs = head(keras.layers.GlobalAveragePooling2D()(x))
    return SearchModel(inputs, outputs, name="tiny_search")


def _data(n=64):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 4
    return rng.normal(size=(n, 8, 8, 3)).astype("float32") + labels[:, None, None, None], labels


def _trained(execution="dense"):
    model = _search_model(execution)
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  arch_optimizer=keras.optimizers.Adam(0.05))
    model.fit(*_data(), batch_size=16, epochs=2, verbose=0,
              callbacks=[TemperatureScheduler(lambda step: 5.0 / (1 + step))])
    return model


@pytest.fixture(scope="module")
def trained():
    return _trained()


def test_decisions_split_the_variables_and_the_scheduler_reaches_every_decision(trained):
    assert sorted(trained.decisions) == ["block0_decision", "block1_decision", "head_decision"]
    assert len(trained.arch_variables) == 3
    arch = {id(v) for v in trained.arch_variables}
    assert all(id(v) not in arch for v in trained.network_variables)
    assert len(trained.network_variables) + 3 == len(trained.trainable_variables)
    temperatures = {float(d.temperature_variable.numpy()) for d in trained.decisions.values()}
    assert temperatures == {5.0 / 2}  # epoch 1 of the schedule, for all three


def test_derive_gives_a_plain_model_that_computes_what_the_search_model_infers(trained,
                                                                               tmp_path):
    x, _ = _data(16)
    architecture = trained.architecture()
    assert sorted(architecture) == ["block0", "block1", "head"]
    derived = trained.derive()
    layers = derived._flatten_layers(include_self=False, recursive=True)
    assert not any(isinstance(layer, (EGSChoice, EnsembleGumbelSoftmax)) for layer in layers)
    names = {layer.name for layer in derived.layers}
    for block, chosen in architecture.items():
        assert (chosen[0] in names) if len(chosen) == 1 else (block in names)
    np.testing.assert_allclose(derived.predict(x, verbose=0),
                               trained.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert derived.count_params() < trained.count_params()
    fresh = trained.derive(weights="reinitialize")
    assert not np.allclose(fresh.predict(x, verbose=0), derived.predict(x, verbose=0))
    # The derived model trains, saves and loads as any Keras model (no egs_keras objects).
    derived.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    derived.fit(*_data(), epochs=1, verbose=0)
    derived.save(tmp_path / "derived.keras")
    config = json.loads(__import__("zipfile").ZipFile(tmp_path / "derived.keras")
                        .read("config.json"))
    assert "egs_keras" not in json.dumps(config)
    loaded = keras.models.load_model(tmp_path / "derived.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), derived.predict(x, verbose=0),
                               rtol=1e-6)


def test_the_search_model_round_trips_with_its_architecture_beside_it(trained, tmp_path):
    x, y = _data(16)
    trained.save(tmp_path / "search.keras")
    written = json.loads((tmp_path / "search.architecture.json").read_text())
    assert written == trained.architecture()
    loaded = keras.models.load_model(tmp_path / "search.keras")
    assert isinstance(loaded, SearchModel) and loaded.search_mode == "joint"
    assert loaded.architecture() == trained.architecture()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), trained.predict(x, verbose=0),
                               rtol=1e-6)
    assert loaded.arch_optimizer is not None
    loaded.fit(x, y, epochs=1, verbose=0)  # the search goes on


def test_sparse_execution_searches_the_same_graph():
    model = _trained("sparse")
    assert all(c.execution == "sparse" for c in model.choices.values() if c.name != "head")
    assert sorted(model.architecture()) == ["block0", "block1", "head"]


def test_bilevel_search_takes_zipped_batches_and_explains_plain_ones():
    model = _search_model()
    model.search_mode = "bilevel"
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    x, y = _data(32)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    before = [v.numpy().copy() for v in model.arch_variables]
    model.fit(tf.data.Dataset.zip((train, train)), epochs=1, verbose=0)
    assert all(np.any(v.numpy() != b) for v, b in zip(model.arch_variables, before,
                                                       strict=True))
    with pytest.raises(ValueError, match=r"bilevel.*\(\(x_train, y_train\), \(x_val, y_val\)\)"):
        model.fit(train, epochs=1, verbose=0)


def test_a_model_without_decisions_and_a_decision_outside_a_choice_are_explained():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="without any EGS decision.*EGSChoice"):
        SearchModel(inputs, keras.layers.Dense(2)(inputs))
    images = keras.Input((8, 8, 4))
    code = EnsembleGumbelSoftmax(logits_shape=(8,), seed=0)
    edge = EGSMixedOp(4)

    class Edge(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.code, self.edge = code, edge

        def call(self, x, training=None):
            return self.edge(x, self.code(training=training), training=training)

    model = SearchModel(images, Edge()(images))
    assert list(model.decisions) == [code.name]
    with pytest.raises(ValueError, match="outside an EGSChoice"):
        model.derive()


MIRRORED = textwrap.dedent("""
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from tests.models import search_model_test as t

    keras.utils.set_random_seed(0)  # initial weights too: a failure can be replayed
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = t._search_model("sparse")
        model.compile(optimizer=keras.optimizers.SGD(0.05),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      arch_optimizer=keras.optimizers.Adam(0.05))
    x, y = t._data()
    before = [v.numpy().copy() for v in model.arch_variables]
    history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=2,
                        verbose=0)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "moved": [float(np.abs(v.numpy() - b).max())
                  for v, b in zip(model.arch_variables, before)],
        "count": int(model.decisions["block0_decision"].sample_count.numpy()),
        "finite": bool(np.all(np.isfinite(history.history["loss"]))),
        "architecture": model.architecture(),
    }))
""")


def test_mirrored_strategy_over_two_logical_cpus():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    done = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True,
                          env=env, cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["finite"]
    assert all(moved > 1e-3 for moved in result["moved"])
    assert result["count"] == 8  # 4 steps × 2 epochs: one draw per step, not per replica
    assert sorted(result["architecture"]) == ["block0", "block1", "head"]
