import keras
import numpy as np
import pytest
import tensorflow as tf

from egs_keras import search_space
from egs_keras.layers import operations
from egs_keras.models import EvaluationNetwork
from egs_keras.models import segmentation_network
from egs_keras.models.segmentation_network import SegmentationNetwork
from egs_keras.runs import segmentation

DARTS_V2 = search_space.published_genotype("darts_v2")
TINY = {"num_classes": 5, "filters": 4, "num_cells": 3, "aspp_filters": 8,
        "decoder_filters": 8, "low_level_filters": 4}


@pytest.fixture(scope="module")
def os8():
    return SegmentationNetwork(DARTS_V2, output_stride=8, **TINY)


@pytest.mark.parametrize("output_stride, strided", [(32, [False, True, True]),
                                                    (16, [False, True, False]),
                                                    (8, [False, False, False])])
def test_reductions_beyond_the_output_stride_become_dilation(output_stride, strided):
    model = SegmentationNetwork(DARTS_V2, output_stride=output_stride, **TINY)
    assert [cell.reduction for cell in model.cells] == strided
    assert model.dilated_after == [False] + [not s for s in strided[1:]]
    # The reduction genotype still runs where the reductions were, at stride 1 if dilated.
    assert model.cells[1].nodes == DARTS_V2.cells["reduce"].to_dict()["nodes"]
    x = tf.random.normal([2, 2 * output_stride, 3 * output_stride, 3])
    assert model(x).shape == (2, 2 * output_stride, 3 * output_stride, 5)


def test_any_size_divisible_by_the_output_stride_returns_a_map_of_that_size(os8):
    for height, width in [(8, 8), (16, 40), (24, 16), (64, 8)]:  # odd multiples pad sub-grids
        assert os8(tf.zeros([1, height, width, 3])).shape == (1, height, width, 5)
    served = tf.function(os8, input_signature=[tf.TensorSpec([None, None, None, 3])])
    assert served(tf.zeros([2, 40, 24, 3])).shape == (2, 40, 24, 5)


def test_other_sizes_are_rejected_with_a_clear_error(os8):
    with pytest.raises(ValueError, match=r"20×16 pixels, expected .*divisible by the output "
                                         r"stride 8\. Pad or crop them, e\.g\. to 24×16"):
        os8(tf.zeros([1, 20, 16, 3]))
    with pytest.raises(ValueError, match=r"shape \(1, 16, 16, 1\), expected images"):
        os8(tf.zeros([1, 16, 16, 1]))
    served = tf.function(os8, input_signature=[tf.TensorSpec([None, None, None, 3])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="divisible by the output stride 8"):
        served(tf.zeros([1, 12, 16, 3]))


def test_dilated_cells_equal_dilated_operations():
    """A cell applied to the 2×2 sub-grids (what the network does after a replaced
    reduction) equals the same operations with every window dilated by 2."""
    x = tf.random.stateless_normal([2, 8, 12, 3], seed=[3, 4])
    dilated = segmentation_network._from_subgrids
    to_grids = segmentation_network._to_subgrids
    depthwise = operations.get_operation("dil_conv_3x3", 3)  # dilation 2 → 4 on sub-grids
    depthwise.build(x.shape)
    on_grids = dilated(depthwise(to_grids(x, None), training=False), None)
    kernel, pointwise = depthwise.depthwise[0], depthwise.pointwise[0]
    expected = tf.nn.conv2d(tf.nn.depthwise_conv2d(tf.nn.relu(x), kernel, [1, 1, 1, 1], "SAME",
                                                   dilations=[4, 4]), pointwise, 1, "SAME")
    expected = depthwise.bns[0](expected, training=False)
    np.testing.assert_allclose(on_grids, expected, atol=1e-5)
    pooled = dilated(tf.nn.max_pool2d(to_grids(x, None), 3, 1, "SAME"), None)
    padded = np.pad(x.numpy(), [(0, 0), (2, 2), (2, 2), (0, 0)], constant_values=-np.inf)
    windows = [padded[:, 2 + dy:10 + dy, 2 + dx:14 + dx] for dy in (-2, 0, 2)
               for dx in (-2, 0, 2)]
    np.testing.assert_array_equal(pooled, np.max(windows, axis=0))


def test_the_same_genotype_json_drives_classification_and_segmentation(tmp_path):
    path = tmp_path / "genotype.json"
    DARTS_V2.save(path)
    classifier = EvaluationNetwork(search_space.load_genotype(str(path)), num_classes=5,
                                   input_shape=(32, 32, 3), filters=4, num_cells=3,
                                   stem="imagenet", auxiliary_weight=0.0)
    segmenter = SegmentationNetwork(search_space.load_genotype(str(path)), output_stride=32,
                                    **TINY)
    for a, b in zip(classifier.cells, segmenter.cells, strict=True):
        assert (a.nodes, a.concat, a.reduction) == (b.nodes, b.concat, b.reduction)
    # At output stride 32 the backbone is the ImageNet network: every stem and cell weight
    # transfers, and the cells then compute the same features.
    copied, total = segmentation.initialize_backbone(segmenter, classifier)
    assert copied == total > 50
    x = tf.random.normal([1, 32, 32, 3])
    assert segmenter(x).shape == (1, 32, 32, 5)
    with pytest.raises(ValueError, match="stem differs"):
        segmentation.initialize_backbone(
            segmenter, EvaluationNetwork(DARTS_V2, num_classes=5, input_shape=(8, 8, 3),
                                         filters=4, num_cells=3, auxiliary_weight=0.0))


def test_backbone_transfer_at_output_stride_16_keeps_what_still_fits():
    classifier = EvaluationNetwork(DARTS_V2, num_classes=5, input_shape=(32, 32, 3),
                                   filters=4, num_cells=4, stem="imagenet", auxiliary_weight=0.0)
    segmenter = SegmentationNetwork(DARTS_V2, output_stride=16, **{**TINY, "num_cells": 4})
    copied, total = segmentation.initialize_backbone(segmenter, classifier)
    # The cell after the dilated reduction preprocesses s0 with a 1×1 conv, not a factorized
    # reduce: those weights keep their initial values, everything else moves.
    assert 0 < copied < total
    assert len(segmenter.cells[3].preprocess0.weights) == total - copied  # kernel, BN
    kernel = segmenter.stem_layers[0].kernel
    np.testing.assert_array_equal(kernel, classifier.stem_layers[0].kernel)


def test_config_round_trip_and_saving(tmp_path, os8):
    config = os8.get_config()
    clone = SegmentationNetwork.from_config(config)
    assert clone.get_config() == config
    path = tmp_path / "model.keras"
    os8.save(path)
    restored = keras.saving.load_model(path)
    x = tf.random.normal([1, 16, 16, 3])
    np.testing.assert_allclose(restored(x), os8(x), atol=1e-5)


def test_counts_grow_with_the_resolution_of_the_features():
    counts = {os: SegmentationNetwork(DARTS_V2, output_stride=os, **TINY) for os in (8, 32)}
    assert counts[8].count_parameters() == counts[32].count_parameters() > 0
    assert counts[8].count_multiply_adds(64) > 2 * counts[32].count_multiply_adds(64)


@pytest.mark.parametrize("arguments, message", [
    ({"output_stride": 4}, r"output_stride.*\[8, 16, 32\]"),
    ({"dropout": 1.0}, r"dropout.*\[0, 1\)"),
    ({"filters": 0}, "filters"),
])
def test_bad_arguments_name_the_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        SegmentationNetwork(DARTS_V2, **{**TINY, **arguments})


def test_a_recurrent_genotype_is_rejected():
    with pytest.raises(ValueError, match="CNN Genotype"):
        SegmentationNetwork(search_space.published_genotype("darts_rnn_v2"), **TINY)


def test_the_networks_take_a_genotype_by_its_published_name_or_file(tmp_path):
    DARTS_V2.save(tmp_path / "cells.json")
    for reference in ("darts_v2", str(tmp_path / "cells.json")):
        segmenter = SegmentationNetwork(reference, output_stride=32, **TINY)
        classifier = EvaluationNetwork(reference, num_classes=3, input_shape=(16, 16, 3),
                                       filters=4, num_cells=3)
        assert segmenter.genotype == classifier.genotype == DARTS_V2.to_dict()
        assert segmenter(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 32, 32, 5)
