"""Segmentation on a laptop CPU: the demo's searched cells, transferred to the generated
shapes (squares, disks and triangles on 32×32 images, `egs_keras.data.shapes`).

    egs-pipeline --config=configs/shapes_segmentation.py --workdir=runs/shapes

Hardware: 2 CPU cores, no GPU, no network. The pipeline first searches the cells on the
bundled digits exactly as `configs/demo.py` does (a few minutes), then trains a segmentation
network of 3 cells × 16 filters at output stride 8 for 30 epochs on the 1,000 training images
and reports the mean IoU on the 200 validation images. Skip the search with a published cell:
`--config.genotype=darts_v2`. Time: 9-12 minutes (the search 3-4, the segmentation 6-7).
Expected: mean IoU about 0.72 with the demo's cells (one run; the cells depend on the
latency table the search measures), 0.70 with DARTS V2's (predicting background
everywhere: 0.21).
"""

import importlib.util
import pathlib

from egs_keras.runs import segmentation


def _demo_config():
    path = pathlib.Path(__file__).with_name("demo.py")
    spec = importlib.util.spec_from_file_location("egs_configs_demo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def get_config():
    config = segmentation.default_config()
    config.cell_search = _demo_config()
    config.data.name = "egs_shapes"
    config.train.epochs = 30
    config.train.batch_size = 16
    config.train.eval_batch_size = 50
    config.train.filters = 16
    config.train.num_cells = 3
    config.train.output_stride = 8
    config.train.aspp_filters = 64
    config.train.aspp_rates = [1, 2, 3]  # ×2 at output stride 8; the feature map is 4×4
    config.train.decoder_filters = 64
    config.train.low_level_filters = 16
    config.train.learning_rate = 0.1
    config.train.graph_optimizer = False  # a short run: start fast
    return config
