"""The tabular example: a dense network choosing activations and widths, searched, derived."""

import keras
import numpy as np

from egs_keras.examples import tabular


def test_the_search_learns_the_circle_and_the_derived_model_infers_the_same():
    keras.utils.set_random_seed(0)
    x, y = tabular.synthetic_data(2048, seed=0)
    test_x, test_y = tabular.synthetic_data(512, seed=1)
    assert 0.4 < y.mean() < 0.6  # the median radius splits the classes
    model = tabular.search_model(x.shape[1])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=tabular.loss(),
                  metrics=["accuracy"], arch_optimizer=keras.optimizers.Adam(0.05))
    model.fit(x, y, batch_size=64, epochs=6, verbose=0)
    architecture = model.architecture()
    assert sorted(architecture) == ["activation0", "activation1", "width0", "width1"]
    derived = model.derive()
    accuracy = np.mean(np.argmax(derived.predict(test_x, verbose=0), -1) == test_y)
    assert accuracy > 0.85  # a linear model cannot beat about 0.5 on a circle
    np.testing.assert_allclose(derived.predict(test_x, verbose=0),
                               model.predict(test_x, verbose=0), rtol=1e-5, atol=1e-5)
