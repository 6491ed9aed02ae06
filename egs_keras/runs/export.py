"""Export of a finished (or interrupted) training run as a SavedModel: rebuilds the network
from the run's `config.json` and `genotype.json` (and `vocabulary.txt` for a language model),
loads its checkpoint (with NT-ASGD's averaged weights, if averaging had started) and writes
`<export_base>/<version>/` as the run's task serves it. `egs-export` and `egs-pipeline` call it.

>>> export_training_run("runs/demo/train", "runs/demo/export")   # doctest: +SKIP
"""

import pathlib

from egs_keras.runs import tasks
from egs_keras.training import directory_lock
from egs_keras.training import training_runs


def load_training_run(train_dir, checkpoint=None):
    """Rebuilds the network of the run in `train_dir` and loads its newest checkpoint (or the
    checkpoint prefix `checkpoint`); returns a `TrainingRun`."""
    return training_runs.load_training_run(train_dir, tasks.rebuild, checkpoint)


def export_training_run(train_dir, export_base=None, version=None, checkpoint=None):
    """Exports the run in `train_dir` (default base: `<train_dir>/../export`); `checkpoint`
    selects a checkpoint prefix instead of the newest one. Returns the version directory."""
    base = pathlib.Path(export_base) if export_base else pathlib.Path(train_dir).parent / "export"
    with directory_lock.claim(base):  # two exports into one base would race for a version
        run = load_training_run(train_dir, checkpoint)
        extra_files = {"genotype.json": run.genotype.to_json() + "\n",
                       "config.json": run.config_text}
        return tasks.export(run, base, version, extra_files)
