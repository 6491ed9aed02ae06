"""Runs of a config, one module per task, dispatched in one place (`tasks`).

* `classification`, `language`, `segmentation`: each task's config defaults and checks,
  search, training, counts, export and tuning score, ending with its `Task` value
  (`task_contract`);
* `tasks`: the registry {name: Task} and the dispatching `validate_config`, `run_search`,
  `run_training`, `count_network`;
* `export`: a training run → SavedModel; `pipeline`: search → train → export in one
  directory.

Task-agnostic machinery (strategies, checkpoints, records, the shared training sequence)
lives in `egs_keras.training`; runs use it, never the reverse.

>>> from egs_keras import runs
>>> summary = runs.run_pipeline(config, "runs/demo")           # doctest: +SKIP
"""

from egs_keras.runs.export import export_training_run
from egs_keras.runs.export import load_training_run
from egs_keras.runs.pipeline import run_pipeline
from egs_keras.runs.tasks import TASKS
from egs_keras.runs.tasks import count_network
from egs_keras.runs.tasks import default_config
from egs_keras.runs.tasks import run_search
from egs_keras.runs.tasks import run_training
from egs_keras.runs.tasks import task_of
from egs_keras.runs.tasks import validate_config
