"""How the files next to this script were made: `make demo`'s trained evaluation network
(configs/demo.py at commit 5f77578: search on the digits, then 3 cells × 12 filters trained
for 10 epochs, 97.6 % test accuracy), its genotype and inference weights (no optimizer, no
auxiliary head), so that tests can check conversions of the demo's own network without
training it (tests/export/litert_test.py).

    egs-pipeline --config=configs/demo.py --workdir=/tmp/demo
    python tests/data/demo_network/generate.py /tmp/demo
"""

import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parents[3]))

from egs_keras.models import EvaluationNetwork  # noqa: E402
from egs_keras.runs import export  # noqa: E402

workdir, here = pathlib.Path(sys.argv[1]), pathlib.Path(__file__).parent
run = export.load_training_run(workdir / "train")
# What inference reads: no optimizer, no auxiliary head (a third of the weights).
served = EvaluationNetwork(run.genotype, num_classes=10, input_shape=(16, 16, 1),
                           filters=run.config.train.filters, num_cells=run.config.train.num_cells,
                           auxiliary_weight=0.0)
trained = {v.path.split("/", 1)[1]: v for v in run.model.weights}  # (without the model's name)
for variable in served.weights:
    variable.assign(trained[variable.path.split("/", 1)[1]])
served.save_weights(here / "evaluation.weights.h5")
shutil.copy(workdir / "train" / "genotype.json", here / "genotype.json")
