"""The measures of the resource prior: latency, parameters, multiply-adds."""

import keras
import tensorflow as tf

from egs_keras.costs import measures


def test_parameters_and_multiply_adds_of_a_dense_layer():
    dense = keras.layers.Dense(4)
    dense.build((None, 8))
    assert measures.count_parameters(dense) == 8 * 4 + 4
    assert measures.count_function_multiply_adds(dense, (3, 8)) == 3 * 8 * 4


def test_measured_latency_grows_with_the_work():
    light = tf.Variable(tf.ones([64, 64]))
    heavy = tf.Variable(tf.ones([512, 512]))
    small = measures.measure_latency(lambda x: x @ light, [light], (64, 64), repeats=9)
    large = measures.measure_latency(lambda x: x @ heavy, [heavy], (512, 512),
                                            repeats=9)
    assert large > 4 * small >= 0  # 512 times the multiply-adds


def test_an_operation_timed_below_the_harness_still_costs_more_than_none(monkeypatch):
    # As on a loaded machine: the empty harness happened to take longer than the operation.
    monkeypatch.setitem(measures._HARNESS_MS, ((4, 4), None), 1e6)
    cost = measures.measure_latency(lambda x: x * 2.0, [], (4, 4), warmup=1, repeats=1)
    assert cost == measures.MIN_LATENCY_MS > 0
