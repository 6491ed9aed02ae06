"""`SegmentationNetwork`: searched cells as the backbone of a DeepLabv3+-style segmenter.

The same CNN genotype that drives `EvaluationNetwork` builds the backbone, laid out as its
ImageNet ("mobile") network: DARTS' ImageNet stem (1/4 resolution, then 1/8) and `num_cells`
genotype cells with reductions at 1/3 and 2/3 of the depth (1/16, 1/32), with the same layer
names, so an ImageNet-trained evaluation run can initialise it. Then an atrous spatial pyramid
pooling (ASPP) head and a DeepLabv3+ decoder that fuses the stem's 1/4 features and upsamples
the class scores to the input's size.

Output stride (input side / backbone feature side) 32 keeps both reductions; 16 (or 8)
replaces the last one (or both) by dilation, as DeepLab does with ResNets. A replaced reduction
cell runs its operations at stride 1 and every later cell runs *dilated* by 2: the cell is
applied to the 2×2 interleaved sub-grids of its inputs (`SpaceToBatchND`), which equals
dilating every convolution and pooling window in it by 2 — for any registered operation, user
ones included. Where a feature side is odd, the sub-grids are padded by one zero row/column
first (exact dilation needs even sides: inputs divisible by 2 × the output stride).

>>> genotype = egs_keras.search_space.published_genotype("darts_v2")
>>> model = SegmentationNetwork(genotype, num_classes=5, filters=8, num_cells=3,
...                             output_stride=16, aspp_filters=16, decoder_filters=16)
>>> model(tf.zeros([2, 32, 48, 3])).shape          # any size divisible by 16
TensorShape([2, 32, 48, 5])
"""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.layers import batch_norm
from egs_keras.layers.genotype_cell import GenotypeCell
from egs_keras.models.evaluation_network import imagenet_stem
from egs_keras.models.one_level_steps import OneLevelSteps

OUTPUT_STRIDES = (8, 16, 32)
STEM_STRIDE = 8
STEM0_OUTPUT = 4  # index of stem0's last batch norm in `imagenet_stem`: the 1/4 features


@keras.saving.register_keras_serializable(package="egs_keras")
class SegmentationNetwork(OneLevelSteps, keras.Model):
    """Per-pixel classifier built from a CNN genotype; returns logits `[N, H, W, classes]`.

    Args:
        genotype: a `search_space.Genotype` of kind "cnn", or its `to_dict()`.
        num_classes: classes per pixel (PASCAL VOC: 21 with the background).
        channels: input channels.
        filters: channels of the first cells (doubled at each reduction, replaced or not).
        num_cells: number of cells.
        output_stride: 8, 16 or 32 (see the module docstring).
        aspp_filters: channels of each ASPP branch and of its projection (DeepLab: 256).
        aspp_rates: dilation rates of the three 3×3 ASPP branches at output stride 16
            (DeepLab: 6, 12, 18), scaled by 16 / `output_stride`.
        decoder_filters: channels of the decoder's two 3×3 convolutions (DeepLab: 256).
        low_level_filters: channels the stride-4 features are projected to (DeepLab: 48).
        dropout: dropout rate after the ASPP projection.
        seed: seed of the dropout masks (their generator's state is saved with the weights).

    Inputs must have sides divisible by `output_stride`; other sizes raise a ValueError (or,
    for shapes known only at run time, an InvalidArgumentError) that says so.
    """

    def __init__(self, genotype, num_classes=21, channels=3, filters=16, num_cells=8,
                 output_stride=16, aspp_filters=256, aspp_rates=(6, 12, 18),
                 decoder_filters=256, low_level_filters=48, dropout=0.1, seed=0, **kwargs):
        super().__init__(**kwargs)
        genotype = search_space.cnn_genotype(genotype)
        self.genotype = genotype.to_dict()
        self.num_classes = _validation.check_positive_int("num_classes", num_classes)
        self.channels = _validation.check_positive_int("channels", channels)
        self.filters = _validation.check_positive_int("filters", filters)
        self.num_cells = _validation.check_positive_int("num_cells", num_cells)
        if output_stride not in OUTPUT_STRIDES:
            raise _validation.invalid("output_stride", f"one of {list(OUTPUT_STRIDES)}",
                                      output_stride)
        self.output_stride = int(output_stride)
        self.aspp_filters = _validation.check_positive_int("aspp_filters", aspp_filters)
        self.aspp_rates = [_validation.check_positive_int("aspp_rates", r) for r in aspp_rates]
        self.decoder_filters = _validation.check_positive_int("decoder_filters",
                                                              decoder_filters)
        self.low_level_filters = _validation.check_positive_int("low_level_filters",
                                                                low_level_filters)
        if not 0.0 <= dropout < 1.0:
            raise _validation.invalid("dropout", "a rate in [0, 1)", dropout)
        self.dropout = float(dropout)
        self.seed = int(seed)

        self.stem_layers = imagenet_stem(filters)
        self.cells, self.dilated_after = [], []
        stride, cell_filters, reduction_prev = STEM_STRIDE, filters, True
        for c in range(num_cells):
            reduction = c in self.reduction_indices
            strided = reduction and stride < self.output_stride
            stride *= 2 if strided else 1
            cell_filters *= 2 if reduction else 1
            cell = genotype.cells["reduce" if reduction else "normal"].to_dict()
            self.cells.append(GenotypeCell(cell_filters, cell["nodes"], cell["concat"],
                                           strided, reduction_prev, name=f"cell_{c}"))
            self.dilated_after.append(reduction and not strided)
            reduction_prev = strided
        rates = [max(r * 16 // self.output_stride, 1) for r in self.aspp_rates]
        self.aspp = AtrousSpatialPyramidPooling(aspp_filters, rates, dropout, seed, name="aspp")
        self.decoder = Decoder(num_classes, decoder_filters, low_level_filters, name="decoder")
        self.build((None, None, None, self.channels))

    @property
    def reduction_indices(self):
        return (self.num_cells // 3, 2 * self.num_cells // 3)

    def get_config(self):
        config = super().get_config()
        config.update(genotype=self.genotype, num_classes=self.num_classes,
                      channels=self.channels, filters=self.filters, num_cells=self.num_cells,
                      output_stride=self.output_stride, aspp_filters=self.aspp_filters,
                      aspp_rates=list(self.aspp_rates), decoder_filters=self.decoder_filters,
                      low_level_filters=self.low_level_filters, dropout=self.dropout,
                      seed=self.seed)
        return config

    def build(self, input_shape):
        shape, shapes = (None, None, None, input_shape[-1]), []
        for layer in self.stem_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        low_level = shapes[STEM0_OUTPUT]
        states = [low_level, shape]
        for cell in self.cells:
            cell.build(states)
            states = [states[1], cell.compute_output_shape(states)]
        self.aspp.build(states[1])
        self.decoder.build([self.aspp.compute_output_shape(states[1]), low_level])
        self.built = True

    def call(self, inputs, training=None):
        inputs = self.check_input_size(inputs)
        x, outputs = inputs, []
        for layer in self.stem_layers:
            x = layer(x, training=training) if isinstance(layer, batch_norm.BatchNorm) \
                else layer(x)
            outputs.append(x)
        low_level = s0 = outputs[STEM0_OUTPUT]
        s1 = x
        paddings = []  # one per dilation: how each sub-grid split padded the features
        for c, cell in enumerate(self.cells):
            s0, s1 = s1, cell([s0, s1], training=training)
            if self.dilated_after[c]:
                pad = _odd_sides(s1)
                s0, s1 = _to_subgrids(s0, pad), _to_subgrids(s1, pad)
                paddings.append(pad)
        for pad in reversed(paddings):
            s1 = _from_subgrids(s1, pad)
        features = self.aspp(s1, training=training)
        logits = self.decoder([features, low_level], training=training)
        return tf.image.resize(logits, tf.shape(inputs)[1:3], method="bilinear")

    def check_input_size(self, inputs):
        """`inputs` after checking that its sides are multiples of the output stride."""
        stride = self.output_stride
        expected = (f"images [N, H, W, {self.channels}] with H and W divisible by the output "
                    f"stride {stride}")
        height, width = inputs.shape[1:3]
        if inputs.shape.rank != 4 or inputs.shape[-1] not in (None, self.channels):
            raise ValueError(f"Received inputs of shape {tuple(inputs.shape)}, expected "
                             f"{expected}.")
        static = [d for d in (height, width) if d is not None]
        if any(d % stride for d in static):
            raise ValueError(
                f"Received images of {height}×{width} pixels, expected {expected}. Pad or "
                f"crop them, e.g. to {_round_up(height, stride)}×{_round_up(width, stride)}.")
        if len(static) == 2:
            return inputs
        check = tf.debugging.assert_equal(
            tf.shape(inputs)[1:3] % stride, 0,
            message=f"Expected {expected}; got other sizes (pad or crop them)")
        with tf.control_dependencies([check]):
            return tf.identity(inputs)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.num_classes)

    def count_parameters(self):
        return measures.count_parameters(self)

    def count_multiply_adds(self, image_size):
        """Multiply-adds of one inference on one `image_size`² image."""
        return measures.count_multiply_adds(self, (image_size, image_size, self.channels))


def _round_up(size, multiple):
    return "H" if size is None else -(-size // multiple) * multiple


def _odd_sides(features):
    """[bottom, right] padding that makes the sides of `features` even: static zeros when
    they are known to be even (keeps shapes static), else computed."""
    height, width = features.shape[1:3]
    if height is not None and width is not None and height % 2 == width % 2 == 0:
        return None
    return tf.shape(features)[1:3] % 2


def _to_subgrids(features, pad):
    """`[N, H, W, C]` → `[4N, H/2, W/2, C]`: the 2×2 interleaved sub-grids, batch-major in the
    grid offset (padded at the bottom/right by `pad`, see `_odd_sides`)."""
    paddings = [[0, 0], [0, 0]] if pad is None else [[0, pad[0]], [0, pad[1]]]
    return tf.space_to_batch_nd(features, [2, 2], paddings)


def _from_subgrids(features, pad):
    """Inverse of `_to_subgrids`."""
    crops = [[0, 0], [0, 0]] if pad is None else [[0, pad[0]], [0, pad[1]]]
    return tf.batch_to_space(features, [2, 2], crops)


@keras.saving.register_keras_serializable(package="egs_keras")
class ConvBNReLU(keras.layers.Layer):
    """Convolution (no bias) → batch norm → ReLU (optional)."""

    def __init__(self, filters, kernel_size=3, strides=1, dilation_rate=1, relu=True,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.strides, self.dilation_rate, self.relu = strides, dilation_rate, relu
        self.conv = keras.layers.Conv2D(filters, kernel_size, strides, padding="same",
                                        dilation_rate=dilation_rate, use_bias=False,
                                        name="conv")
        self.bn = batch_norm.BatchNorm(name="bn")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "dilation_rate": self.dilation_rate, "relu": self.relu}

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.bn.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = self.bn(self.conv(inputs), training=training)
        return tf.nn.relu(x) if self.relu else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)


@keras.saving.register_keras_serializable(package="egs_keras")
class AtrousSpatialPyramidPooling(keras.layers.Layer):
    """DeepLabv3's ASPP: a 1×1 branch, one dilated 3×3 branch per rate and an image-pooling
    branch, concatenated, projected by a 1×1 conv-BN-ReLU, then dropout."""

    def __init__(self, filters, rates, dropout=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.rates, self.dropout, self.seed = filters, list(rates), dropout, seed
        self.branches = [ConvBNReLU(filters, 1, name="branch_1x1")] + [
            ConvBNReLU(filters, 3, dilation_rate=r, name=f"branch_rate{r}") for r in rates]
        self.pooling = ConvBNReLU(filters, 1, name="image_pooling")
        self.projection = ConvBNReLU(filters, 1, name="projection")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "rates": self.rates,
                "dropout": self.dropout, "seed": self.seed}

    def build(self, input_shape):
        # Created here, inside the layer's name scope, so its state has a path that does not
        # depend on how many models the process built (checkpoints must find it again).
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="dropout_seed")
        for branch in self.branches:
            branch.build(input_shape)
        self.pooling.build((input_shape[0], 1, 1, input_shape[-1]))
        self.projection.build((*input_shape[:3], self.filters * (len(self.branches) + 1)))

    def call(self, inputs, training=None):
        outputs = [branch(inputs, training=training) for branch in self.branches]
        pooled = self.pooling(tf.reduce_mean(inputs, axis=[1, 2], keepdims=True),
                              training=training)
        outputs.append(tf.broadcast_to(pooled, tf.concat(
            [tf.shape(inputs)[:3], [self.filters]], axis=0)))
        x = self.projection(tf.concat(outputs, axis=-1), training=training)
        if training and self.dropout > 0:
            x = keras.random.dropout(x, self.dropout, seed=self.seed_generator)
        return x

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:3], self.filters)


@keras.saving.register_keras_serializable(package="egs_keras")
class Decoder(keras.layers.Layer):
    """DeepLabv3+'s decoder: the head's features upsampled to the stride-4 features (projected
    to `low_level_filters`), concatenated, two 3×3 conv-BN-ReLU, a 1×1 classifier."""

    def __init__(self, num_classes, filters=256, low_level_filters=48, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.filters = num_classes, filters
        self.low_level_filters = low_level_filters
        self.low_level = ConvBNReLU(low_level_filters, 1, name="low_level")
        self.fuse = [ConvBNReLU(filters, 3, name="fuse_0"), ConvBNReLU(filters, 3, name="fuse_1")]
        self.classifier = keras.layers.Conv2D(num_classes, 1, name="classifier")

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "filters": self.filters, "low_level_filters": self.low_level_filters}

    def build(self, input_shape):
        features, low_level = (tuple(s) for s in input_shape)
        self.low_level.build(low_level)
        shape = (*low_level[:3], features[-1] + self.low_level_filters)
        for layer in self.fuse:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.classifier.build(shape)

    def call(self, inputs, training=None):
        features, low_level = inputs
        low_level = self.low_level(low_level, training=training)
        features = tf.image.resize(features, tf.shape(low_level)[1:3], method="bilinear")
        x = tf.concat([features, low_level], axis=-1)
        for layer in self.fuse:
            x = layer(x, training=training)
        return self.classifier(x)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[1])[:3], self.num_classes)
