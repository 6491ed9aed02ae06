"""Search your own Keras model: a MobileNetV2-style network on the bundled digits.

    egs-mobilenet --config=configs/mobilenet_digits.py --workdir=runs/mobilenet

Five searched blocks (kernel 3/5/7 × expansion 3/6, or skip where the shape allows) at
16×16, M = 1 under the measured-latency prior (λ = 0.5), 8 epochs of joint search on the
train split; then the derived network, the network with every block at kernel 7 and
expansion 6, and one with random blocks, each trained from scratch for 10 epochs and scored
on the test split (TensorFlow latency; LiteRT latency float32 / int8 and the int8 file's
accuracy); the derived one is exported. `--config.search.op_costs=litert` makes the prior
LiteRT's inference latency (docs/search.md). Weight decay is DARTS' coupled L2 (in the
gradient), not Keras' decoupled `weight_decay` (egs_keras.optimizers). No network, a few
minutes on 2 CPU cores (docs/search.md, "Search your own Keras model").
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.latency_batch_size = 32  # the batch whose inference the latency column times
    # Also convert each network to LiteRT (float32; int8 calibrated on 100 training digits),
    # time both on one image with this many threads, and score the int8 file on the test split.
    config.litert = True
    config.litert_threads = 1

    config.data = ml_collections.ConfigDict()
    config.data.name = "egs_digits"
    config.data.image_size = 16
    config.data.data_dir = ""
    config.data.train_split = "train"
    config.data.test_split = "test"

    config.model = ml_collections.ConfigDict()
    config.model.stem = 8
    # (filters, blocks, stride): the first block of a stage changes the shape (no skip).
    config.model.stages = ((8, 1, 1), (16, 2, 2), (24, 2, 2))
    config.model.head = 64

    config.search = ml_collections.ConfigDict()
    config.search.epochs = 8
    config.search.batch_size = 32
    config.search.num_samples = 1
    config.search.execution = "dense"
    config.search.op_costs = "latency"
    config.search.effectiveness_weight = 0.5
    config.search.temperature_start = 3.0
    config.search.temperature_end = 0.5
    config.search.learning_rate = 0.05
    config.search.weight_decay = 3e-4
    config.search.arch_learning_rate = 0.03
    config.search.arch_weight_decay = 1e-3

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 10
    config.train.batch_size = 32
    config.train.learning_rate = 0.05
    config.train.weight_decay = 3e-4
    return config
