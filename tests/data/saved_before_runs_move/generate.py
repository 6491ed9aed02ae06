"""How the files next to this script were made, by egs_keras at commit dfad110 (before the
run modules moved from `egs_keras.training` to `egs_keras.runs`): a one-epoch training run
of DARTS V2 on the digits (label smoothing, so that the `.keras` file holds the smoothed
loss), its evaluation model and an untrained search model as `.keras` files, and its export.

    python tests/data/saved_before_runs_move/generate.py /tmp/out

tests/reliability/saved_file_format_test.py loads them with today's code. (The imports
below are that commit's module names; the aliases that kept them importable are gone.)
"""

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parents[3]))

from configs import smoke  # noqa: E402
from egs_keras.training import export_run  # noqa: E402
from egs_keras.training import search_run  # noqa: E402
from egs_keras.training import train_run  # noqa: E402

out = pathlib.Path(sys.argv[1])
config = smoke.get_config()
config.data.data_dir = str(out / "tfds")
config.train.label_smoothing = 0.1
results = train_run.run_training(config, out / "train", "darts_v2")
results["model"].save(out / "evaluation.keras")
search = search_run.build_search_model(config, steps_per_epoch=1)
search(np.zeros((1, 8, 8, 1), "float32"))
search.save(out / "search.keras")
print(export_run.export_training_run(out / "train", out / "export"))
