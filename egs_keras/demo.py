"""Estimator demo: exact sampling, then a differentiable multi-hot selector under `model.fit`.

Runs offline in seconds on a CPU (`egs-demo`; `make demo` runs the whole pipeline instead):

1. draws Ensemble Gumbel-Softmax codes for K = 8 operations and M = 7 samples and prints their
   frequencies next to the exact probabilities (inclusion–exclusion);
2. trains a linear model whose inputs pass through an `EnsembleGumbelSoftmax` selector and
   shows that the selector's most probable code finds the 3 relevant features out of 8.

Example:

    egs-demo --num_samples=4 --epochs=6
"""

import math

import numpy as np
from absl import app
from absl import flags

_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", 4, "Number M of Gumbel-Softmax samples per code in the selector demo.",
    lower_bound=1,
)
_EPOCHS = flags.DEFINE_integer(
    "epochs", 6, "Number of training epochs of the selector demo.", lower_bound=1
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the data and of the Gumbel noise.")
_DRAWS = flags.DEFINE_integer(
    "draws", 20_000, "Number of codes drawn to compare with the exact law.", lower_bound=100
)


def show_exact_sampling(draws, seed):
    """Prints empirical against exact code and inclusion probabilities (K = 8, M = 7)."""
    import tensorflow as tf

    from egs_keras import ops
    from egs_keras.layers import EnsembleGumbelSoftmax

    num_ops, num_samples = 8, 7
    logits = np.linspace(1.0, -1.5, num_ops).astype("float32")
    layer = EnsembleGumbelSoftmax(num_samples=num_samples, seed=seed)
    codes = layer(np.tile(logits, (draws, 1)), training=True).numpy()
    probs = tf.nn.softmax(tf.constant(logits, tf.float64))
    exact = ops.code_probabilities(probs, num_samples).numpy()
    counts = np.bincount(ops.code_index(codes).numpy(), minlength=exact.size)
    table = ops.all_codes(num_ops).numpy().astype(int)

    print(f"1) {draws} codes, K = {num_ops} operations, M = {num_samples} samples")
    print(f"   reachable codes: {ops.num_reachable_codes(num_ops, num_samples)} "
          f"(the paper's C(K,M)(2^M-1) = {math.comb(num_ops, num_samples) * 127} over-counts)")
    print("   code       exact   drawn")
    for index in np.argsort(-exact)[:6]:
        code = "".join(map(str, table[index]))
        print(f"   {code}  {exact[index]:.4f}  {counts[index] / draws:.4f}")
    inclusion = ops.inclusion_probability(probs, num_samples).numpy()
    print("   P(op on)  exact " + " ".join(f"{v:.3f}" for v in inclusion))
    print("             drawn " + " ".join(f"{v:.3f}" for v in codes.mean(0)))


def show_selector(num_samples, epochs, seed):
    """Trains a feature selector with `model.fit`; prints the code it converges to."""
    import keras

    from egs_keras.layers import EnsembleGumbelSoftmax
    from egs_keras.training import LinearAnnealing
    from egs_keras.training import TemperatureScheduler

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4096, 8)).astype("float32")
    relevant = [1, 4, 6]
    y = x[:, relevant].sum(axis=1, keepdims=True)

    inputs = keras.Input((8,))
    selector = EnsembleGumbelSoftmax(
        num_samples=num_samples, logits_shape=(8,), seed=seed, name="selector"
    )
    selected = keras.layers.Multiply()([inputs, selector(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(selected))
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    print(f"\n2) selector: y = sum of features {relevant} of 8; M = {num_samples}")
    model.fit(
        x, y, epochs=epochs, batch_size=64, verbose=2,
        callbacks=[TemperatureScheduler(LinearAnnealing(5.0, 1.0, num_steps=max(epochs - 1, 1)))],
    )
    code = selector.most_probable_code().numpy().astype(int)
    print("   p(feature)        " + " ".join(f"{v:.2f}" for v in selector.probabilities().numpy()))
    print(f"   most probable code {code.tolist()} -> features {np.flatnonzero(code).tolist()}")
    print(f"   test MSE with that code: {model.evaluate(x, y, verbose=0):.4f} (variance of y: "
          f"{float(np.var(y)):.2f})")


def main(argv):
    del argv
    show_exact_sampling(_DRAWS.value, _SEED.value)
    show_selector(_NUM_SAMPLES.value, _EPOCHS.value, _SEED.value)


def run_main():
    """Console-script entry point (`egs-demo`)."""
    app.run(main)


if __name__ == "__main__":
    run_main()
