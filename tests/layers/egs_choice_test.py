"""EGSChoice: the EGS law of its codes, the exact code in inference, dense == sparse, costs,
sharing, saving and the errors a user meets."""

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from egs_keras import ops
from egs_keras.layers import EGSChoice
from egs_keras.layers import EnsembleGumbelSoftmax


class Constant(keras.layers.Layer):
    """Outputs `value` everywhere (one channel): the sum over active candidates 2^k spells
    the code in binary."""

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def call(self, inputs):
        return tf.ones_like(inputs[..., :1]) * self.value


def _binary_choice(num_ops, num_samples, execution="dense", **kwargs):
    return EGSChoice([Constant(2.0 ** k, name=f"c{k}") for k in range(num_ops)],
                     num_samples=num_samples, execution=execution, seed=3, **kwargs)


def _codes_of(outputs, num_ops):
    values = np.rint(np.asarray(outputs).reshape(len(outputs), -1)[:, 0]).astype(int)
    return (values[:, None] >> np.arange(num_ops)) & 1


@pytest.mark.parametrize("execution", ["dense", "sparse"])
def test_training_codes_follow_the_egs_law_and_inference_is_the_most_probable_code(execution):
    num_ops, num_samples, draws = 4, 2, 6000
    choice = _binary_choice(num_ops, num_samples, execution)
    x = tf.zeros([1, 2])
    choice(x)
    choice.decision.logits.assign([1.2, 0.3, -0.4, 0.0])
    step = tf.function(lambda: choice(x, training=True))
    codes = _codes_of([step().numpy() for _ in range(draws)], num_ops)
    probs = choice.decision.probabilities().numpy().astype("float64")
    expected = ops.code_probabilities(tf.constant(probs / probs.sum()), num_samples).numpy()
    observed = np.bincount(ops.code_index(codes.astype("float32")).numpy(),
                           minlength=expected.size)
    reachable = expected > 0
    assert observed[~reachable].sum() == 0
    assert scipy.stats.chisquare(observed[reachable],
                                 expected[reachable] * draws).pvalue > 1e-3
    # With M = 1 the same frequencies are impossible (codes with two ones were drawn).
    assert codes.sum(1).max() == 2
    # Inference: the exactly most probable code, every time.
    best = np.unravel_index(np.argmax(expected), expected.shape)
    inferred = _codes_of(choice(x, training=False).numpy()[None], num_ops)[0]
    np.testing.assert_array_equal(ops.code_index(inferred[None].astype("float32")).numpy(),
                                  [np.ravel_multi_index(best, expected.shape)])
    assert [choice.candidates[k].name for k in choice.chosen()] == [
        f"c{k}" for k in np.flatnonzero(inferred)]


def _conv_choices(**kwargs):
    def candidates():
        return [keras.layers.Conv2D(4, k, padding="same", name=f"conv{k}") for k in (1, 3)] + [
            keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")]

    x = tf.random.stateless_normal([2, 6, 6, 4], seed=[1, 2])
    dense = EGSChoice(candidates(), num_samples=3, seed=5, **kwargs)
    sparse = EGSChoice(candidates(), num_samples=3, seed=5, execution="sparse", **kwargs)
    dense(x), sparse(x)
    sparse.set_weights(dense.get_weights())
    return x, dense, sparse


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_dense_and_sparse_agree_forward_and_backward(reduction):
    x, dense, sparse = _conv_choices(reduction=reduction)

    @tf.function
    def step(choice):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(choice(x, training=True) ** 2)
        return loss, tape.gradient(loss, [x, *choice.trainable_weights])

    all_on = 0
    for _ in range(20):
        (dense_loss, dense_grads), (sparse_loss, sparse_grads) = step(dense), step(sparse)
        np.testing.assert_allclose(sparse_loss, dense_loss, rtol=1e-5)
        weights = [w.path for w in dense.trainable_weights]
        logits = 1 + weights.index(dense.decision.logits.path)
        for k, (d, s) in enumerate(zip(dense_grads, sparse_grads, strict=True)):
            if k == logits:
                assert np.all(np.isfinite(s)) and np.any(s != 0)
                continue
            np.testing.assert_allclose(s, d, rtol=1e-4, atol=1e-5)
        # α's gradient: equal when every candidate is active (then the relaxations agree);
        # otherwise sparse gives the inactive entries none (see EGSMixedOp).
        if np.all(_last_code(dense)):
            all_on += 1
            np.testing.assert_allclose(sparse_grads[logits], dense_grads[logits], rtol=1e-4)
    assert dense.decision.sample_count.numpy() == sparse.decision.sample_count.numpy() == 20
    assert all_on > 0  # the comparison of α's gradients happened


def _last_code(choice):
    return choice.decision.draw(choice.decision.sample_count - 1).numpy()


def test_measured_costs_rank_the_candidates_and_are_kept_in_the_config():
    for measure in ("parameters", "multiply_adds", "latency"):
        choice = EGSChoice([keras.layers.Conv2D(8, k, padding="same", name=f"conv{k}")
                            for k in (1, 3, 7)], op_costs=measure, seed=0)
        # Latency: large enough that the work, not the call overhead, is timed.
        choice(tf.zeros([16, 32, 32, 8] if measure == "latency" else [8, 12, 12, 8]))
        costs = choice.decision.op_costs
        cheap = choice.decision.probabilities().numpy()  # the prior favours cheap candidates
        if measure == "latency":  # timings: only the 49-fold work difference is asserted
            # (1×1 against 3×3 is close enough for a loaded machine to time either way)
            assert costs[2] > 2 * costs[0] > 0, costs
            assert cheap[0] > cheap[2], (costs, cheap)
        else:
            assert costs[0] < costs[1] < costs[2], (measure, costs)
            assert cheap[0] > cheap[1] > cheap[2], (measure, cheap)
        if measure == "parameters":
            assert costs == [8 * 8 + 8, 9 * 8 * 8 + 8, 49 * 8 * 8 + 8]
        again = EGSChoice.from_config(choice.get_config())
        assert again.decision.op_costs == costs  # measured once, not again after a reload


def test_choices_sharing_a_decision_use_one_code_per_step_and_keep_sharing_when_saved(
        tmp_path):
    decision = EnsembleGumbelSoftmax(1, logits_shape=(3,), seed=2, name="width")
    inputs = keras.Input((2,))
    first = EGSChoice([Constant(2.0 ** k, name=f"a{k}") for k in range(3)], decision=decision,
                      name="first")(inputs)
    second = EGSChoice([Constant(2.0 ** k, name=f"b{k}") for k in range(3)],
                       decision=decision, name="second")(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([first, second]))
    step = tf.function(lambda x: model(x, training=True))
    for _ in range(10):
        values = step(tf.zeros([1, 2])).numpy()[0]
        assert values[0] == values[1] and values[0] in (1, 2, 4)
    assert decision.sample_count.numpy() == 10  # one draw per step, not one per choice
    model.save(tmp_path / "shared.keras")
    loaded = keras.models.load_model(tmp_path / "shared.keras",
                                     custom_objects={"Constant": Constant})
    choices = [loaded.get_layer("first"), loaded.get_layer("second")]
    assert choices[0].decision is choices[1].decision
    assert len(loaded.trainable_weights) == 1


def test_works_in_sequential_and_subclassed_models_and_round_trips(tmp_path):
    def choice():
        return EGSChoice([keras.layers.Dense(3, name="wide"),
                          keras.Sequential([keras.layers.Dense(3, activation="relu"),
                                            keras.layers.Dense(3)], name="deep")],
                         seed=1, name="head")

    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = keras.layers.Dense(5)
            self.head = choice()

        def call(self, x, training=None):
            return self.head(self.body(x), training=training)

    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    sequential = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), choice()])
    subclassed = Net()
    for model in (sequential, subclassed):
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, x[:, :3], epochs=2, verbose=0)
    sequential.save(tmp_path / "sequential.keras")
    loaded = keras.models.load_model(tmp_path / "sequential.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), sequential.predict(x, verbose=0),
                               rtol=1e-6)
    assert loaded.layers[-1].candidate_names == ["wide", "deep"]


def test_mixed_precision_and_xla_in_dense_mode():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((6, 6, 4))
        x = EGSChoice([keras.layers.Conv2D(4, k, padding="same", name=f"conv{k}")
                       for k in (1, 3)], seed=0)(inputs)
        outputs = keras.layers.Activation("linear", dtype="float32")(
            keras.layers.GlobalAveragePooling2D()(x))
        model = keras.Model(inputs, outputs)
        assert x.dtype == "float16"
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        history = model.fit(np.ones((4, 6, 6, 4), "float32"), np.zeros((4, 4), "float32"),
                            epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert model.layers[1].decision.logits.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_candidates_with_other_output_shapes_are_named():
    choice = EGSChoice([keras.layers.Conv2D(4, 3, padding="same", name="same"),
                        keras.layers.Conv2D(4, 3, name="valid")])
    with pytest.raises(ValueError, match=r"candidate 'valid' .*\(None, 4, 4, 4\).*expected "
                                         r"\(None, 6, 6, 4\) as candidate 'same'"):
        choice(keras.Input((6, 6, 4)))


class Noisy(keras.layers.Layer):
    def call(self, inputs):
        return inputs + tf.random.uniform(tf.shape(inputs))  # a stateful op


def test_a_stateful_candidate_in_sparse_mode_is_refused_with_its_name():
    choice = EGSChoice([keras.layers.Identity(name="plain"), Noisy(name="noisy")],
                       execution="sparse", num_samples=2)
    x = tf.zeros([2, 3])
    choice(x)
    with pytest.raises(ValueError, match="'noisy' whose call creates stateful ops"):
        tf.function(lambda: choice(x, training=True))()


@pytest.mark.parametrize("kwargs, message", [
    (dict(candidates=keras.layers.Dense(2)), "a list of Keras layers"),
    (dict(candidates=[keras.layers.Dense(2)]), "at least 2 layers"),
    (dict(candidates=[keras.layers.Dense(2, name="d"), keras.layers.Dense(2, name="d")]),
     "repeated names"),
    (dict(candidates=[keras.layers.Dense(2), keras.layers.Dense(2)], num_samples=0),
     "`num_samples`, expected a positive integer"),
    (dict(candidates=[keras.layers.Dense(2), keras.layers.Dense(2)], probe_rate=0.0),
     r"`probe_rate`, expected a number in \(0, 1\]"),
    (dict(candidates=[keras.layers.Dense(2), keras.layers.Dense(2)], execution="fast"),
     "execution"),
    (dict(candidates=[keras.layers.Dense(2), keras.layers.Dense(2)], op_costs="speed"),
     "op_costs"),
    (dict(candidates=[keras.layers.Dense(2), keras.layers.Dense(2)],
          decision=EnsembleGumbelSoftmax(logits_shape=(3,))), r"logits_shape=\(2,\)"),
])
def test_bad_arguments_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EGSChoice(**kwargs)
