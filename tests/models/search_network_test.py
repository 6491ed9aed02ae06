import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.models import EGSSearchNetwork
from egs_keras.models import architecture_search
from egs_keras.training import LinearAnnealing
from egs_keras.training import TemperatureScheduler

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data(count=64, size=16, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = rng.normal(size=(count, size, size, 3)).astype("float32") + labels[:, None, None,
                                                                                None]
    return images, labels


def _tiny(**kwargs):
    options = dict(num_classes=2, input_shape=(16, 16, 3), filters=4, num_cells=3, num_nodes=5,
                   num_samples=3, seed=1)
    options.update(kwargs)
    model = EGSSearchNetwork(**options)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  arch_optimizer=keras.optimizers.Adam(0.05), loss=LOSS, metrics=["accuracy"])
    return model


@pytest.mark.parametrize("search_mode, execution",
                         [("joint", "dense"), ("bilevel", "sparse")])
def test_fit_searches_and_derives_a_genotype(search_mode, execution, tmp_path):
    keras.utils.set_random_seed(11)
    images, labels = _data()
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    if search_mode == "bilevel":
        dataset = tf.data.Dataset.zip((dataset, dataset.skip(1).repeat()))
    model = _tiny(search_mode=search_mode, execution=execution)
    before = [v.numpy().copy() for v in model.arch_variables]
    history = model.fit(dataset, epochs=2, verbose=0,
                        callbacks=[TemperatureScheduler(LinearAnnealing(3.0, 1.0, 1))])
    for key in ["loss", "accuracy", "temperature", "alpha_entropy", "active_ops",
                "parameter_free_ops"]:
        assert len(history.history[key]) == 2, key
    assert history.history["temperature"] == [3.0, 1.0]
    assert 1.0 <= history.history["active_ops"][-1] <= 3.0
    for old, variable in zip(before, model.arch_variables, strict=True):
        assert np.abs(variable.numpy() - old).max() > 1e-4  # α moved
    # It learns: 0.92-1.0 over 8 seeds, with the most probable architecture (chance: 0.5).
    assert model.evaluate(images, labels, verbose=0, return_dict=True)["accuracy"] > 0.8
    genotype = model.genotype()
    assert set(genotype.cells) == {"normal", "reduce"}
    assert len(genotype.cells["normal"].nodes) == 2
    genotype.save(tmp_path / "genotype.json")
    assert search_space.Genotype.load(tmp_path / "genotype.json") == genotype
    assert json.loads(genotype.to_json())["kind"] == "cnn"
    sampled = model.genotype(strategy="sample", seed=3)
    assert sampled == model.genotype(strategy="sample", seed=3)


def test_inference_uses_the_most_probable_architecture():
    images, labels = _data(count=16)
    model = _tiny()
    np.testing.assert_allclose(model.predict(images, verbose=0), model.predict(images, verbose=0))
    count = [int(d.sample_count.numpy()) for d in model.decisions.values()]
    assert count == [0, 0]  # no sampling in inference


def test_none_takes_no_credit_from_the_cost_prior():
    """`none` costs nothing but is no connection, not a cheap operation: at α ≈ 0 it keeps
    p = 1/K; the free skip connection still gets the prior's credit."""
    model = _tiny(op_costs=[0, 1, 2, 0, 4, 8, 3, 5])
    probs = model.probabilities()["normal"].numpy()
    np.testing.assert_allclose(probs[:, 0], 1 / 8, atol=1e-3)
    assert probs[:, 3].min() > 1 / 8 > probs[:, 5].max()


def test_fixed_architecture_computes_the_given_cells_with_the_shared_weights():
    """How sample_and_validate scores a candidate: inference with its codes, the same weights,
    no variable added; the most probable codes reproduce ordinary inference."""
    images, _ = _data(count=16)
    model = _tiny()
    before = model.predict(images, verbose=0)
    weights = len(model.weights)
    candidate = search_space.random_genotype(3, num_intermediate=2, edges_per_node=2, seed=0)
    with model.fixed_architecture() as use:
        use(search_space.genotype_codes(candidate))
        fixed = model.predict(images, verbose=0)
        np.testing.assert_allclose(model(images, training=False), fixed, rtol=1e-5, atol=1e-5)
        use({t: d.most_probable_code() for t, d in model.decisions.items()})
        np.testing.assert_allclose(model.predict(images, verbose=0), before, rtol=1e-5,
                                   atol=1e-5)
        with pytest.raises(ValueError, match=r"architecture\['normal'\].*shape \(5, 8\)"):
            use({"normal": np.ones([4, 8]), "reduce": np.ones([5, 8])})
    assert np.abs(fixed - before).max() > 1e-3
    np.testing.assert_allclose(model.predict(images, verbose=0), before, rtol=1e-5, atol=1e-5)
    assert len(model.weights) == weights


def test_variables_split_into_architecture_and_network():
    model = _tiny()
    arch = {id(v) for v in model.arch_variables}
    network = {id(v) for v in model.network_variables}
    assert len(arch) == 2 and not arch & network
    assert arch | network == {id(v) for v in model.trainable_variables}
    assert [tuple(v.shape) for v in model.arch_variables] == [(5, 8), (5, 8)]


def test_config_round_trip_builds_the_same_network():
    model = _tiny(execution="sparse", search_mode="bilevel", op_costs=[0, 0, 0, 0, 4, 8, 3, 5])
    clone = EGSSearchNetwork.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [v.shape for v in clone.weights] == [v.shape for v in model.weights]


@pytest.mark.parametrize("seed", [0, 1])
def test_search_prefers_the_operation_the_task_needs(seed):
    """Is there one bright pixel in the noise? Global average pooling dilutes a single pixel;
    max pooling spreads it over 3×3 pixels, so the search should favour max pooling."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(2)
    count, size = 512, 8
    images = rng.normal(scale=0.5, size=(count, size, size, 3)).astype("float32")
    labels = rng.integers(0, 2, count)
    rows, cols = rng.integers(0, size, count), rng.integers(0, size, count)
    images[labels == 1, rows[labels == 1], cols[labels == 1], :] += 4.0
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(count, seed=0).batch(32)
    model = _tiny(input_shape=(size, size, 3), primitives=["none", "skip_connect", "max_pool_3x3"],
                  num_samples=1, num_cells=1, execution="dense")
    model.fit(dataset, epochs=6, verbose=0)
    probs = model.probabilities()["reduce"].numpy()  # one cell: it is a reduction cell
    assert np.all(probs[:, 2] > probs[:, 1]) and probs[:, 2].mean() > 0.5, probs
    assert all(op == "max_pool_3x3" for node in model.genotype().cells["reduce"].nodes
               for op, _ in node)


def test_weight_loss_scaling_does_not_leak_into_the_architecture_step():
    images, labels = _data(count=16)
    alphas = []
    for factor in (None, 1024.0):
        keras.utils.set_random_seed(0)  # identical networks, differing only in loss scaling
        model = EGSSearchNetwork(num_classes=2, input_shape=(16, 16, 3), filters=4, num_cells=1,
                                 num_nodes=4, num_samples=2, seed=1)
        model.compile(keras.optimizers.SGD(0.0, loss_scale_factor=factor),
                      arch_optimizer=keras.optimizers.SGD(0.5), loss=LOSS)
        model.fit(images, labels, batch_size=16, epochs=1, verbose=0, shuffle=False)
        alphas.append(model.arch_variables[1].numpy())
    assert np.abs(alphas[0]).max() > 1e-4
    np.testing.assert_allclose(alphas[1], alphas[0], rtol=1e-3, atol=1e-6)


def test_bad_network_arguments():
    with pytest.raises(ValueError, match="`num_samples`, expected a positive integer"):
        EGSSearchNetwork(num_samples=0, num_cells=1, filters=2, input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="`execution`.*GDAS-like"):
        EGSSearchNetwork(execution="lazy", num_cells=1, filters=2, input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="`search_mode`"):
        EGSSearchNetwork(search_mode="alternating", num_cells=1, filters=2,
                         input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="`input_shape`"):
        EGSSearchNetwork(input_shape=(8, 8), num_cells=1, filters=2)
    model = _tiny(search_mode="bilevel", num_cells=1)
    images, labels = _data(count=16)
    with pytest.raises(ValueError, match=r"expects batches \(\(x_train, y_train\)"):
        model.fit(images, labels, epochs=1, verbose=0)


def test_keras_file_restores_alpha_and_both_optimizers(tmp_path):
    images, labels = _data(count=32)
    model = _tiny(num_cells=2, num_nodes=4)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "search.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for name in ("optimizer", "arch_optimizer"):
        ours, theirs = getattr(model, name), getattr(loaded, name)
        assert type(theirs) is type(ours) and int(theirs.iterations) == int(ours.iterations) == 2
        for a, b in zip(ours.variables, theirs.variables, strict=True):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                       keras.ops.convert_to_numpy(b))
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    assert loaded.genotype() == model.genotype()
    loaded.fit(images, labels, batch_size=16, epochs=1, verbose=0)  # training continues
    assert int(loaded.arch_optimizer.iterations) == 4


@pytest.mark.parametrize("execution", ["sparse", "dense"])
def test_sparse_steps_draw_their_codes_and_gate_predicates_on_the_host(execution):
    """On a GPU a gate's predicate lives in host memory: sparse steps draw the codes on the
    host and compute every predicate there (no device-to-host copy per gate). Checked on
    the requested devices of the step traced for a GPU (tracing needs none)."""
    model = _tiny(execution=execution)
    images, labels = _data(4)
    with tf.device("/device:GPU:0"):
        graph = tf.function(model.train_step, autograph=False).get_concrete_function(
            (tf.constant(images), tf.constant(labels))).graph
    switches = [op for op in graph.get_operations() if op.type == "Switch"]
    predicates = {op.inputs[1].op for op in switches}
    assert bool(switches) == (execution == "sparse")
    assert predicates and all("CPU" in op.device for op in predicates) or not switches
    samples = [op for op in graph.get_operations() if op.type.startswith("StatelessRandom")]
    assert samples and all(("CPU" in op.device) == (execution == "sparse") for op in samples)


def test_a_bilevel_step_through_one_shared_pass_equals_two_separate_passes(monkeypatch):
    """The bilevel step runs both passes through one traced function (half the graph); each
    optimizer must apply exactly what two separate passes give it. (Sparse execution through
    the shared pass: test_fit_searches_and_derives_a_genotype[bilevel-sparse].)"""
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype("float32")
    labels = np.arange(8) % 10
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    weights = []
    for shared in (True, False):
        monkeypatch.setattr(architecture_search.ArchitectureSearch, "_shares_bilevel_pass",
                            lambda self, shared=shared: shared)
        keras.utils.set_random_seed(0)
        model = EGSSearchNetwork(10, (8, 8, 3), filters=4, num_cells=2, num_samples=2,
                                 execution="dense", search_mode="bilevel")
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(tf.data.Dataset.zip((batches, batches)), epochs=1, verbose=0)
        weights.append([v.numpy() for v in model.variables])
    for ours, theirs in zip(*weights, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
