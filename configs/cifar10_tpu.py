"""The paper's CIFAR-10 search (M = 7) and evaluation on a Cloud TPU (v2-8 / v3-8: 8 cores).

    egs-pipeline --config=configs/cifar10_tpu.py --workdir=gs://<bucket>/runs/cifar10 \
        --strategy=tpu --config.data.data_dir=gs://<bucket>/tfds

Run it on a TPU VM (or set TPU_NAME to a TPU this machine reaches); TPUs read data and write
runs through Cloud Storage, hence the gs:// paths. Differences from `cifar10_search_m7.py` /
`cifar10_eval.py`: every train step is compiled with XLA (`jit_compile`), the search runs
`dense` (sparse execution skips inactive operations with graph switches, which XLA does not
compile), the cost prior comes from multiply-adds (latency cannot be measured operation by
operation on a TPU), and the global batches (64 for the search, 96 for the evaluation) split
evenly over 8 cores. Batches are static-shaped (the pipelines drop partial training batches).

Not run on a TPU by us: the development machines have none. Checked here: every train step
(search dense, evaluation, segmentation) compiles and trains under `jit_compile=True` on the
CPU (tests/training/xla_test.py), and `--strategy=tpu` without a TPU fails at start-up with a
clear message. Expected (paper): 2.79 % CIFAR-10 test error.
"""

from egs_keras.runs import classification


def get_config():
    config = classification.default_config()
    # Latency is measured by running each operation eagerly on the run's device, which a
    # TPU does not do; the prior comes from multiply-adds instead.
    config.search.op_costs = "multiply_adds"
    config.search.execution = "dense"
    config.search.jit_compile = True
    config.train.jit_compile = True
    return config
