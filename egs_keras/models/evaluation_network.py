"""`EvaluationNetwork`: a network of fixed cells built from a genotype, trained from scratch."""

import keras
import tensorflow as tf

from egs_keras import _validation
from egs_keras import search_space
from egs_keras.costs import measures
from egs_keras.layers import batch_norm
from egs_keras.layers.genotype_cell import GenotypeCell
from egs_keras.models import replica_steps
from egs_keras.models.one_level_steps import OneLevelSteps

STEMS = ("cifar", "imagenet")


@keras.saving.register_keras_serializable(package="egs_keras")
class EvaluationNetwork(OneLevelSteps, keras.Model):
    """Stem, `num_cells` genotype cells (reductions at 1/3 and 2/3), auxiliary head, classifier.

    Two stems, as in DARTS:

    * "cifar": one 3×3 convolution with `3 · filters` channels (paper: 20 cells, 36 filters,
      32×32 inputs, about 3.3M parameters for DARTS V2);
    * "imagenet" (mobile setting): two stride-2 3×3 convolutions, then a third one, so the
      first cell sees 1/8 of the input resolution (paper: 14 cells, 48 filters, 224×224, under
      600M multiply-adds).

    The auxiliary head (`auxiliary_weight` > 0) reads the cell at 2/3 of the depth; in
    training the loss is `loss(logits) + auxiliary_weight · loss(auxiliary logits)`. It is
    not part of inference or of exports. Drop-path: the network holds the current rate in the
    variable `drop_path_rate`, 0 until a `DropPathScheduler` raises it.

    Args:
        genotype: a `search_space.Genotype`, or its `to_dict()` (kind "cnn").
        num_classes: classifier outputs (logits).
        input_shape: `(height, width, channels)`.
        filters: channels of the first cells (doubled at each reduction).
        num_cells: number of cells.
        stem: "cifar" or "imagenet".
        auxiliary_weight: weight of the auxiliary loss (paper 0.4); 0 removes the head.
        seed: seed of the drop-path masks.

    Example:

    >>> genotype = egs_keras.search_space.published_genotype("darts_v2")
    >>> model = EvaluationNetwork(genotype, num_classes=10, input_shape=(16, 16, 3),
    ...                           filters=8, num_cells=3)
    >>> model(tf.zeros([2, 16, 16, 3])).shape
    TensorShape([2, 10])
    """

    def __init__(self, genotype, num_classes=10, input_shape=(32, 32, 3), filters=36,
                 num_cells=20, stem="cifar", auxiliary_weight=0.4, seed=0, **kwargs):
        super().__init__(**kwargs)
        genotype = search_space.cnn_genotype(genotype)
        self.genotype = genotype.to_dict()
        self.num_classes = _validation.check_positive_int("num_classes", num_classes)
        self.image_shape = _validation.check_image_shape("input_shape", input_shape)
        self.filters = _validation.check_positive_int("filters", filters)
        self.num_cells = _validation.check_positive_int("num_cells", num_cells)
        if stem not in STEMS:
            raise _validation.invalid("stem", f"one of {list(STEMS)}", stem)
        self.stem = stem
        self.auxiliary_weight = _validation.check_non_negative_float("auxiliary_weight",
                                                                     auxiliary_weight)
        self.seed = int(seed)
        self._check_resolution()

        self.stem_layers = self._make_stem()
        cells = genotype.cells
        self.cells = []
        cell_filters = filters
        reduction_prev = stem == "imagenet"
        for c in range(num_cells):
            reduction = c in self.reduction_indices
            cell_filters *= 2 if reduction else 1
            cell = cells["reduce" if reduction else "normal"].to_dict()
            self.cells.append(GenotypeCell(
                cell_filters, cell["nodes"], cell["concat"], reduction, reduction_prev,
                seed=self.seed + c, name=f"cell_{c}"))
            reduction_prev = reduction
        self.auxiliary_head = (AuxiliaryHead(num_classes, name="auxiliary_head")
                               if self.auxiliary_weight > 0 else None)
        self.classifier = keras.layers.Dense(num_classes, name="classifier")
        self.drop_path_rate = self.add_weight(
            name="drop_path_rate", shape=(), initializer="zeros", trainable=False)
        self.build((None, *self.image_shape))

    @property
    def reduction_indices(self):
        return (self.num_cells // 3, 2 * self.num_cells // 3)

    def get_config(self):
        config = super().get_config()
        config.update(genotype=self.genotype, num_classes=self.num_classes,
                      input_shape=list(self.image_shape), filters=self.filters,
                      num_cells=self.num_cells, stem=self.stem,
                      auxiliary_weight=self.auxiliary_weight, seed=self.seed)
        return config

    def _check_resolution(self):
        stride = (8 if self.stem == "imagenet" else 1) * 4
        height, width = self.image_shape[:2]
        if min(height, width) < stride:
            raise _validation.invalid(
                "input_shape", f"at least {stride}×{stride} pixels for the {self.stem!r} stem "
                "and two reductions", self.image_shape)

    def _make_stem(self):
        if self.stem == "cifar":
            return [_conv(3 * self.filters, 1, "stem_conv"), batch_norm.BatchNorm(name="stem_bn")]
        return imagenet_stem(self.filters)

    def build(self, input_shape):
        shape = tuple(input_shape)
        shapes = []
        for layer in self.stem_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        # CIFAR: both cell inputs are the stem; ImageNet: stem0 (after its 2nd BN) and stem1.
        states = [shapes[-1], shapes[-1]] if self.stem == "cifar" else [shapes[4], shapes[-1]]
        for c, cell in enumerate(self.cells):
            cell.build(states)
            states = [states[1], cell.compute_output_shape(states)]
            if c == self.reduction_indices[1] and self.auxiliary_head is not None:
                self.auxiliary_head.build(states[1])
        self.classifier.build((None, states[1][-1]))
        self.built = True

    def call(self, inputs, training=None):
        return self.forward(inputs, training=training)[0]

    def forward(self, inputs, training=None):
        """(logits, auxiliary logits or None); the auxiliary head runs in training only."""
        x = inputs
        outputs = []
        for layer in self.stem_layers:
            x = layer(x, training=training) if isinstance(layer, batch_norm.BatchNorm) \
                else layer(x)
            outputs.append(x)
        s0, s1 = (x, x) if self.stem == "cifar" else (outputs[4], x)
        drop_rate = self.drop_path_rate if training else None
        auxiliary = None
        for c, cell in enumerate(self.cells):
            s0, s1 = s1, cell([s0, s1], training=training, drop_rate=drop_rate)
            if (c == self.reduction_indices[1] and training and self.auxiliary_head is not None):
                auxiliary = self.auxiliary_head(s1, training=training)
        logits = self.classifier(tf.reduce_mean(s1, axis=[1, 2]))
        return logits, auxiliary

    def count_parameters(self, include_auxiliary=False):
        """Trainable parameters (the auxiliary head only if asked; it is not exported)."""
        return measures.count_parameters(self, include_auxiliary)

    def count_multiply_adds(self):
        """Multiply-adds of one inference on one image (see `costs.measures`)."""
        return measures.count_multiply_adds(self)

    def train_step(self, data):
        def loss(x, y, y_pred, sample_weight):
            logits, auxiliary = y_pred
            value = self.compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight,
                                      training=True)
            if auxiliary is not None:  # (this model adds no layer losses to count twice)
                value += self.auxiliary_weight * self.compute_loss(
                    x=x, y=y, y_pred=auxiliary, sample_weight=sample_weight, training=True)
            return value

        x, y, sample_weight, (logits, _) = replica_steps.train_step(
            self, data, forward=lambda x: self.forward(x, training=True), loss=loss)
        return self.compute_metrics(x, y, logits, sample_weight=sample_weight)


def _conv(filters, stride, name):
    return keras.layers.Conv2D(filters, 3, stride, padding="same", use_bias=False, name=name)


def imagenet_stem(filters):
    """DARTS' ImageNet stem as a list of layers: stem0 (two stride-2 3×3 convolutions, the
    first with `filters // 2` channels; its output, after the 5th layer, feeds the first cell
    as s0 at 1/4 resolution) and stem1 (ReLU, a stride-2 3×3 convolution: s1 at 1/8)."""
    half = max(filters // 2, 1)
    return [_conv(half, 2, "stem0_conv0"), batch_norm.BatchNorm(name="stem0_bn0"),
            keras.layers.ReLU(name="stem0_relu"), _conv(filters, 2, "stem0_conv1"),
            batch_norm.BatchNorm(name="stem0_bn1"), keras.layers.ReLU(name="stem1_relu"),
            _conv(filters, 2, "stem1_conv"), batch_norm.BatchNorm(name="stem1_bn")]


@keras.saving.register_keras_serializable(package="egs_keras")
class AuxiliaryHead(keras.layers.Layer):
    """DARTS' auxiliary classifier: ReLU, 5×5 average pooling to 2×2, 1×1 conv (128), BN,
    ReLU, 2×2 conv (768), BN, ReLU, dense. The pooling stride is chosen so any input of at
    least 2×2 pools to 2×2 (8×8 → stride 3 as on CIFAR, 7×7 → stride 2 as on ImageNet).
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

    def build(self, input_shape):
        size = min(input_shape[1], input_shape[2])
        if size < 2:
            raise ValueError(
                f"Received features of shape {tuple(input_shape)} for the auxiliary head, "
                "expected at least 2×2 pixels. Use larger inputs or auxiliary_weight=0.")
        self.pool_size = min(5, size - 1)
        self.pool_stride = size - self.pool_size
        self.conv1 = keras.layers.Conv2D(128, 1, use_bias=False, name="conv1")
        self.bn1 = batch_norm.BatchNorm(name="bn1")
        self.conv2 = keras.layers.Conv2D(768, 2, use_bias=False, name="conv2")
        self.bn2 = batch_norm.BatchNorm(name="bn2")
        self.dense = keras.layers.Dense(self.num_classes, name="dense")
        pooled = (input_shape[0], 2, 2, input_shape[-1])
        self.conv1.build(pooled)
        self.bn1.build(pooled[:3] + (128,))
        self.conv2.build(pooled[:3] + (128,))
        self.bn2.build((input_shape[0], 1, 1, 768))
        self.dense.build((input_shape[0], 768))

    def call(self, inputs, training=None):
        x = tf.nn.avg_pool2d(tf.nn.relu(inputs), self.pool_size, self.pool_stride, "VALID")
        x = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        x = tf.nn.relu(self.bn2(self.conv2(x), training=training))
        return self.dense(tf.reduce_mean(x, axis=[1, 2]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)
