"""A dense network for tabular data that searches each hidden layer's activation and
bottleneck width with `EGSChoice`, on generated data whose label needs a nonlinearity.

>>> x, y = synthetic_data(2048, seed=0)
>>> model = search_model(num_features=x.shape[1])
>>> model.compile(optimizer="adam", loss=loss(), arch_optimizer=keras.optimizers.Adam(0.05))
>>> model.fit(x, y, epochs=10, verbose=0)                           # doctest: +SKIP
>>> model.architecture()                                             # doctest: +SKIP
{'activation0': ['relu0'], 'width0': ['width0_64'], ...}
>>> plain = model.derive()                                           # doctest: +SKIP
"""

import keras
import numpy as np

from egs_keras.layers import EGSChoice
from egs_keras.models import SearchModel

ACTIVATIONS = ("linear", "relu", "tanh")
WIDTHS = (4, 16, 64)


def synthetic_data(count, seed, num_features=8):
    """Features N(0, 1); the label says whether ‖x[:2]‖ exceeds the median radius (a circle:
    no linear model separates it; the other features are noise)."""
    x = np.random.default_rng(seed).normal(size=(count, num_features)).astype("float32")
    radius = np.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    return x, (radius > np.sqrt(2 * np.log(2))).astype("int32")  # the median of a χ(2)


def hidden_layer(x, index, units=32, seed=0):
    """A layer choosing its activation, then a residual bottleneck choosing its width."""
    x = EGSChoice([keras.layers.Dense(units, activation=a, name=f"{a}{index}")
                   for a in ACTIVATIONS], seed=seed + 2 * index, name=f"activation{index}")(x)
    bottleneck = EGSChoice([keras.Sequential([keras.layers.Dense(w, activation="relu"),
                                              keras.layers.Dense(units)],
                                             name=f"width{index}_{w}") for w in WIDTHS],
                           seed=seed + 2 * index + 1, name=f"width{index}")(x)
    return keras.layers.Add()([x, bottleneck])


def search_model(num_features, num_classes=2, layers=2, seed=0):
    """The search network: `layers` hidden layers of choices, then a linear classifier."""
    inputs = keras.Input((num_features,))
    x = inputs
    for index in range(layers):
        x = hidden_layer(x, index, seed=seed)
    return SearchModel(inputs, keras.layers.Dense(num_classes)(x), name="tabular_search")


def loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
