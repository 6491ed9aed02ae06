"""PASCAL VOC 2012 semantic segmentation on searched cells (the paper's transfer experiment:
76.8 % mean IoU for the EGS cell against 75.4 % for DARTS).

    egs-train --config=configs/voc2012_segmentation.py --workdir=runs/voc2012 \
        --genotype=runs/cifar10_search_m7/genotype.json --strategy=mirrored \
        --config.data.data_dir=/data/tfds \
        --config.train.backbone_run=runs/imagenet        # optional ImageNet initialisation

or, searching the cells first (CIFAR-10 search at M = 7, then segmentation):
`egs-pipeline --config=configs/voc2012_segmentation.py --workdir=runs/voc2012`.

Network: DARTS' ImageNet layout (14 cells × 48 filters) as the backbone at output stride 16,
DeepLabv3+ head (ASPP rates 6/12/18, 256 channels) and decoder; 512² crops, scales 0.5–2,
flips; batch 16, SGD momentum 0.9, poly learning rate 0.007, 300 epochs on VOC train (1,464
images, ≈ 27k steps); mean IoU on VOC val (1,449 images) padded to 512².

Data: `VOCtrainval_11-May-2012.tar` in `<data_dir>/downloads/manual/` (see
`egs_keras.data.voc`). Hardware: meant for a multi-GPU machine (about a day on 8 GPUs by our
estimate); not run on the 2-core development CPU. The paper's recipe is not fully published;
DeepLab-style results of this kind rely on ImageNet initialisation (`backbone_run`) and the
SBD-augmented training set (10,582 images, not included), so expect a lower mean IoU from
VOC train alone and from scratch.
"""

from egs_keras.runs import segmentation


def get_config():
    config = segmentation.default_config()
    config.cell_search.search.num_samples = 7
    return config
