import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

import egs_keras
from egs_keras import ops
from egs_keras.layers import EnsembleGumbelSoftmax

NUM_DRAWS = 40_000


def _draw_codes(layer, logits, draws=NUM_DRAWS):
    batch = np.tile(np.asarray(logits, "float32"), (draws, 1))
    return layer(batch, training=True).numpy()


def _chi_square_pvalue(codes, probs, num_samples):
    """Chi-square of code frequencies against the exact law, pooling bins expected below 5."""
    expected = ops.code_probabilities(tf.constant(probs, tf.float64), num_samples).numpy()
    observed = np.bincount(ops.code_index(codes).numpy(), minlength=expected.size)
    if observed[expected == 0].sum() > 0:
        return 0.0  # a code that this law cannot produce was drawn
    expected = expected * len(codes)
    small = (expected < 5) & (expected > 0)
    large = expected >= 5
    f_obs, f_exp = observed[large], expected[large]
    if small.any():
        f_obs = np.append(f_obs, observed[small].sum())
        f_exp = np.append(f_exp, expected[small].sum())
    return scipy.stats.chisquare(f_obs, f_exp * f_obs.sum() / f_exp.sum()).pvalue


@pytest.mark.parametrize(
    "num_ops, num_samples, costs",
    [(8, 7, None), (5, 4, None), (8, 7, [0, 0, 0, 0, 2, 5, 1, 3]), (6, 2, None), (4, 1, None),
     (8, 9, None), (3, 5, [0, 4, 1])],  # M > K: Table 5's M = 9 over K = 8
)
def test_code_frequencies_follow_inclusion_exclusion(num_ops, num_samples, costs):
    logits = np.random.default_rng(num_ops + num_samples).normal(scale=0.8, size=num_ops)
    layer = EnsembleGumbelSoftmax(num_samples, op_costs=costs, effectiveness_weight=0.5, seed=1)
    codes = _draw_codes(layer, logits)
    ones = codes.sum(-1)
    assert ones.min() >= 1 and ones.max() <= min(num_samples, num_ops)
    probs = layer.probabilities(logits[None].astype("float32")).numpy()[0].astype("float64")
    probs /= probs.sum()
    assert _chi_square_pvalue(codes, probs, num_samples) > 1e-3
    # Inclusion frequencies: binomial z-scores against 1 - (1 - p)^M.
    inclusion = ops.inclusion_probability(probs, num_samples).numpy()
    z = (codes.mean(0) - inclusion) / np.sqrt(inclusion * (1 - inclusion) / len(codes))
    assert np.abs(z).max() < 4.5, z
    # The test has power: the law for another M is rejected by the same frequencies.
    if num_samples > 1:
        assert _chi_square_pvalue(codes, probs, num_samples - 1) < 1e-6


def test_a_cost_table_gives_each_row_its_own_prior():
    table = [[0.0, 10.0, 10.0], [10.0, 10.0, 0.0]]
    layer = EnsembleGumbelSoftmax(2, op_costs=table, logits_shape=(2, 3), seed=0)
    probs = layer.probabilities().numpy()
    assert probs[0].argmax() == 0 and probs[1].argmax() == 2
    np.testing.assert_allclose(probs[0], probs[1][::-1], rtol=1e-6)
    with pytest.raises(ValueError, match=r"`op_costs`, expected costs \[K\] or a table of "
                                         r"shape \[2, 3\]"):
        EnsembleGumbelSoftmax(2, op_costs=[[0, 1, 2]] * 3, logits_shape=(2, 3)).build()


def test_cost_prior_shifts_codes_toward_cheap_operations():
    costs = [0.0, 10.0, 10.0, 10.0]
    with_prior = EnsembleGumbelSoftmax(2, op_costs=costs, effectiveness_weight=0.3, seed=0)
    without = EnsembleGumbelSoftmax(2, seed=0)
    logits = np.zeros(4)
    assert _draw_codes(with_prior, logits)[:, 0].mean() > _draw_codes(without, logits)[:, 0].mean()


def test_inference_returns_the_most_probable_code_deterministically():
    layer = EnsembleGumbelSoftmax(num_samples=7, seed=0)
    logits = tf.random.stateless_normal([14, 8], seed=[0, 3])
    expected = ops.most_probable_code(tf.nn.softmax(logits), 7)
    np.testing.assert_array_equal(layer(logits, training=False), expected)
    np.testing.assert_array_equal(layer(logits), expected)
    np.testing.assert_array_equal(layer.most_probable_code(logits), expected)
    assert int(layer.sample_count.numpy()) == 0


def test_training_draws_new_reproducible_codes_each_call():
    logits = tf.zeros([32, 8])
    first = EnsembleGumbelSoftmax(4, seed=5)
    second = EnsembleGumbelSoftmax(4, seed=5)
    a1, a2 = first(logits, training=True), first(logits, training=True)
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, second(logits, training=True))
    np.testing.assert_array_equal(a2, second(logits, training=True))
    assert int(first.sample_count.numpy()) == 2


def test_owned_logits_give_one_code_or_one_code_per_example():
    layer = EnsembleGumbelSoftmax(num_samples=3, logits_shape=(14, 8), seed=0)
    assert layer().shape == (14, 8)
    assert layer(tf.zeros([5, 2]), training=True).shape == (5, 14, 8)
    assert [w.name for w in layer.trainable_weights] == ["logits"]
    assert layer.compute_output_shape((None, 2)) == (None, 14, 8)


def test_get_config_round_trip():
    layer = EnsembleGumbelSoftmax(
        num_samples=7, temperature=3.0, op_costs=[0, 1, 2], effectiveness_weight=0.25,
        straight_through=False, hard=True, logits_shape=(2, 3),
        logits_initializer=keras.initializers.RandomNormal(seed=1), name="decision",
    )
    config = layer.get_config()
    clone = EnsembleGumbelSoftmax.from_config(config)
    assert clone.get_config() == config
    assert config["seed"] == layer.seed and isinstance(layer.seed, int)  # drawn once, recorded
    assert config["temperature"] == 3.0 and float(clone.temperature_variable.numpy()) == 3.0


def test_selector_learns_the_relevant_features_under_fit_and_survives_keras_save(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 8)).astype("float32")
    y = x[:, [1, 4, 6]].sum(axis=1, keepdims=True)
    inputs = keras.Input((8,))
    selector = EnsembleGumbelSoftmax(num_samples=4, logits_shape=(8,), seed=0, name="selector")
    selected = keras.layers.Multiply()([inputs, selector(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(selected))
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    np.testing.assert_array_equal(selector.most_probable_code(), [0, 1, 0, 0, 1, 0, 1, 0])
    # Inference uses the most probable code: far below the variance of y (3.0).
    assert model.evaluate(x, y, verbose=0) < 0.05

    path = tmp_path / "selector.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x[:16], verbose=0), model.predict(x[:16], verbose=0))
    restored = loaded.get_layer("selector")
    assert int(restored.sample_count.numpy()) == int(selector.sample_count.numpy()) > 0
    np.testing.assert_array_equal(
        restored(x[:8], training=True), selector(x[:8], training=True)
    )  # the random stream continues where it was saved


def test_mixed_precision_keeps_logits_and_noise_in_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = EnsembleGumbelSoftmax(num_samples=7, seed=0)
        # float16 rounds these logits apart; float32 keeps the tiny but real difference.
        logits = tf.constant([[0.0, 1e-4, 0, 0, 0, 0, 0, 0]], tf.float32)
        code = layer(logits, training=True)
        assert code.dtype == tf.float32
        probs = layer.probabilities(logits)
        assert probs.dtype == tf.float32 and float(probs[0, 1]) > float(probs[0, 0])
        inputs = keras.Input((8,))
        model = keras.Model(inputs, EnsembleGumbelSoftmax(3, logits_shape=(8,))(inputs))
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(num_samples=0), "`num_samples`, expected a positive integer, got 0"),
     (dict(temperature=0), "`temperature`, expected a finite number greater than 0, got 0"),
     (dict(temperature=float("inf")), "`temperature`, expected a finite number"),
     (dict(effectiveness_weight=-0.5), r"`effectiveness_weight`, expected a number in \[0, 1\]"),
     (dict(op_costs=[1, -1]), "`op_costs`.*non-negative"),
     (dict(logits_shape=(3, 0)), "`logits_shape`, expected a tuple of positive integers"),
     (dict(seed="x"), r"`seed`, expected an integer from -2\*\*63"),
     (dict(seed=2**70), r"`seed`, expected an integer from -2\*\*63"),
     (dict(replica_sampling="per_step"), "`replica_sampling`, expected one of")],
)
def test_bad_constructor_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EnsembleGumbelSoftmax(**kwargs)


def test_bad_call_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"`op_costs`, expected 8 costs.*It has 3 entries"):
        EnsembleGumbelSoftmax(2, op_costs=[1, 2, 3])(tf.zeros([4, 8]))
    with pytest.raises(ValueError, match=r"`inputs`, expected logits of shape \[..., K\]"):
        EnsembleGumbelSoftmax(2)(tf.constant(1.0))
    with pytest.raises(ValueError, match="Received no `inputs`"):
        EnsembleGumbelSoftmax(2)()
    with pytest.raises(ValueError, match="`temperature`"):
        EnsembleGumbelSoftmax(2).set_temperature(-1.0)


def test_layer_is_exported_at_the_top_level():
    assert egs_keras.EnsembleGumbelSoftmax is EnsembleGumbelSoftmax
    assert isinstance(egs_keras.__version__, str)


def test_use_code_replaces_the_most_probable_code_in_inference_only_within_the_block():
    layer = EnsembleGumbelSoftmax(2, logits_shape=(3, 4), seed=0)
    layer.build()
    mode = layer(training=False).numpy()
    code = np.eye(3, 4, dtype="float32")
    step = tf.function(lambda: layer(training=False))
    with layer.use_code(tf.constant(code)):
        np.testing.assert_array_equal(layer(training=False), code)
        np.testing.assert_array_equal(layer.inference_code(), code)
        np.testing.assert_array_equal(step(), code)
        assert layer(training=True).numpy().sum() >= 3  # training still draws
    np.testing.assert_array_equal(layer(training=False), mode)
    assert "inference_code" not in str(layer.get_config()) and len(layer.weights) == 3


def test_probes_are_bernoulli_reproducible_and_apart_from_the_codes():
    layer = EnsembleGumbelSoftmax(1, logits_shape=(20, 8), seed=3)
    masks = np.stack([layer.probe_mask(0.3, step).numpy() for step in range(200)])
    assert masks.shape == (200, 20, 8) and masks.dtype == bool
    z = (masks.mean() - 0.3) / np.sqrt(0.3 * 0.7 / masks.size)
    assert abs(z) < 4.5, masks.mean()
    np.testing.assert_array_equal(layer.probe_mask(0.3, 7), masks[7])
    codes = np.stack([layer.draw(step).numpy() for step in range(200)])
    correlation = np.corrcoef(codes.ravel(), masks.ravel())[0, 1]
    assert abs(correlation) < 0.05, correlation


def test_the_prior_strength_and_neutral_operations_shape_the_probabilities():
    costs = [0.0, 1.0, 4.0]
    flat = EnsembleGumbelSoftmax(1, op_costs=costs, prior_strength=0.0, neutral_ops=[0],
                                 logits_shape=(3,))
    np.testing.assert_allclose(flat.probabilities(), [1 / 3] * 3, rtol=1e-6)
    sharp = EnsembleGumbelSoftmax(1, op_costs=costs, prior_strength=4.0, neutral_ops=[0],
                                  logits_shape=(3,))
    probs = sharp.probabilities().numpy()
    np.testing.assert_allclose(probs[0], 1 / 3, rtol=1e-6)
    assert probs[1] > probs[0] > probs[2] and probs[1] / probs[2] > 2.5
    clone = EnsembleGumbelSoftmax.from_config(sharp.get_config())
    np.testing.assert_allclose(clone.probabilities(), probs, rtol=1e-6)
    with pytest.raises(ValueError, match="`neutral_ops`"):
        EnsembleGumbelSoftmax(1, op_costs=costs, neutral_ops=[3], logits_shape=(3,)).build()
