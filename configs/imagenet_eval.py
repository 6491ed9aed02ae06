"""ImageNet (mobile setting): 14 cells, 48 filters, 224×224, 250 epochs, batch 128, SGD 0.1
with a poly schedule (lr · (1 − step / steps)^0.9) and coupled weight decay 3e-5, label
smoothing 0.1, auxiliary weight 0.4; the CIFAR-10 cell transferred.

    egs-train --config=configs/imagenet_eval.py --workdir=runs/imagenet \
        --genotype=runs/cifar10_search_m7/genotype.json

Data: TFDS "imagenet2012" needs the ILSVRC 2012 tar files in
`<data_dir>/downloads/manual/` (set --config.data.data_dir). Hardware: several GPU-days on
8 GPUs (use --strategy=mirrored). Expected: 24.9 % top-1 / 8.1 % top-5 error (paper), under
600M multiply-adds.
"""

from egs_keras.runs import classification


def get_config():
    config = classification.default_config()
    config.data.name = "imagenet2012"
    config.train.epochs = 250
    config.train.batch_size = 128
    config.train.filters = 48
    config.train.num_cells = 14
    config.train.stem = "imagenet"
    config.train.learning_rate = 0.1
    config.train.learning_rate_schedule = "poly"
    config.train.weight_decay = 3e-5
    config.train.label_smoothing = 0.1
    config.train.drop_path_rate = 0.0
    return config
