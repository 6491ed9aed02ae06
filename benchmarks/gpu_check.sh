#!/usr/bin/env bash
# Which execution is faster on a GPU? One command, minutes, one table (run it on a machine
# with a GPU and the package installed, e.g. after `make lint`; nothing here needs a GPU to
# parse, and on a CPU it runs the same rows there).
#
#     benchmarks/gpu_check.sh [extra search_benchmark.py flags, e.g. --steps 10]
#
# Rows (each in its own process, DARTS' 8-cell search network, 16 filters, 32x32, batch 32):
#   dense joint search, without and with XLA; sparse joint search at M = 1, 4, 7 (unbiased,
#   with probes; sparse_biased at M = 4 beside it) (codes and
#   gate predicates on the host, see egs_keras/ops/gating.py); the evaluation network
#   (DARTS V2, 20 cells x 36 filters, batch 96 as in the paper) in float32 and in mixed
#   float16, with and without XLA. Grappler stays on (TensorFlow's default on GPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
"$PYTHON" - <<'PY'
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print("GPUs:", [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                for g in gpus] or "none (the rows below run on the CPU)")
PY
"$PYTHON" benchmarks/search_benchmark.py "$@" --configs \
  dense,dense+xla,sparse:1,sparse:4,sparse:7,sparse_biased:4,eval,eval+mixed,eval+xla,eval+mixed+xla
