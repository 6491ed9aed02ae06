import keras

from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.models import EvaluationNetwork


def test_multiply_adds_of_known_layers():
    """conv 3×3 (3 → 8) on 10×10 'same': 10·10·8·27; depthwise 3×3 on 8 channels: 10·10·8·9;
    dense 8 → 4 after pooling: 32."""
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4)(x)
    model = keras.Model(inputs, outputs)
    assert measures.count_multiply_adds(model, (10, 10, 3)) == 10 * 10 * 8 * (27 + 9) + 32


def test_darts_v2_imagenet_mobile_setting_is_under_600m_multiply_adds():
    """DARTS on ImageNet (mobile): 4.7M parameters, 574M multiply-adds (Liu et al. 2019).
    Convolutions and the classifier alone come to 530M here; DARTS' counter also counted
    cheaper operations. The mobile setting's bound, < 600M, holds either way."""
    model = EvaluationNetwork(search_space.published_genotype("darts_v2"), num_classes=1000,
                              input_shape=(224, 224, 3), filters=48, num_cells=14,
                              stem="imagenet")
    assert 4.6e6 < measures.count_parameters(model) < 4.8e6
    assert 520e6 < measures.count_multiply_adds(model) < 600e6
