"""Export of a finished (or interrupted) training run as a SavedModel, and with it LiteRT
files: rebuilds the network from the run's `config.json` and `genotype.json` (and
`vocabulary.txt` for a language model), loads its checkpoint (with NT-ASGD's averaged weights,
if averaging had started) and writes `<export_base>/<version>/` as the run's task serves it,
with `litert/` inside when asked (`export.litert`). `egs-export` and `egs-pipeline` call it.

>>> export_training_run("runs/demo/train", "runs/demo/export")   # doctest: +SKIP
>>> export_training_run("runs/demo/train", formats=["saved_model", "litert"])  # doctest: +SKIP
"""

import json
import os
import pathlib

from egs_keras import _validation
from egs_keras.export import formats as export_formats
from egs_keras.export import litert
from egs_keras.export import saved_model
from egs_keras.runs import tasks
from egs_keras.training import training_runs
from egs_keras.training.workdir import directory_lock


def load_training_run(train_dir, checkpoint=None):
    """Rebuilds the network of the run in `train_dir` and loads its newest checkpoint (or the
    checkpoint prefix `checkpoint`); returns a `TrainingRun`."""
    return training_runs.load_training_run(train_dir, tasks.rebuild, checkpoint)


def export_training_run(train_dir, export_base=None, version=None, checkpoint=None,
                        formats=("saved_model",), quantizations=litert.QUANTIZATIONS):
    """Exports the run in `train_dir` (default base: `<train_dir>/../export`); `checkpoint`
    selects a checkpoint prefix instead of the newest one. Returns the version directory.

    With "litert" in `formats`, the version directory also gets `litert/`: a `.tflite` file
    per quantization in `quantizations` (`export.litert`; int8 calibrated on the run's own
    training data) and `litert.json`. The files are converted before anything is written, so
    an operation LiteRT cannot run fails the export with its name and leaves nothing.

    Without a `version`, a checkpoint already exported into the base (by the digest of its
    `.index` file, recorded in `assets.extra/export_source.json`) is not exported again: its
    version directory is returned. Temporary directories of interrupted exports in the base
    are removed first. Nothing is created if the export fails."""
    _validation.check_path("workdir", train_dir)
    _validation.check_path("export_base", export_base)
    base = (pathlib.Path(train_dir).parent / "export" if export_base is None
            else pathlib.Path(export_base))
    if version is not None:  # (taken already: said before the network is converted)
        saved_model.version_directory(base, version)
    formats = export_formats.check_formats(formats)
    quantizations = litert.check_quantizations(quantizations)
    if "litert" in formats:
        litert.interpreter_class()  # (its ImportError says how to install it)
    created = _check_export_base(base)
    try:
        with directory_lock.claim(base):  # two exports into one base would race for a version
            stale = saved_model.remove_stale_temporaries(base)
            if stale:
                print(f"Removed {len(stale)} temporary directories that interrupted exports "
                      f"left in {str(base)!r}.")
            run = load_training_run(train_dir, checkpoint)
            source = saved_model.checkpoint_source(run.checkpoint)
            existing = saved_model.find_version_of(base, source) if version is None else None
            lite = None
            if "litert" in formats and (existing is None or not (
                    existing / export_formats.LITERT_DIRECTORY).exists()):
                signature, representative = tasks.litert_signature(run)
                lite = litert.convert_all(signature, quantizations, representative)
            if existing is None:
                extra_files = {"genotype.json": run.genotype.to_json() + "\n",
                               "config.json": run.config_text,
                               saved_model.SOURCE_FILE: json.dumps(source, indent=2) + "\n"}
                existing = tasks.export(run, base, version, extra_files)
            if lite is not None:  # (a version exported before without LiteRT gets it now)
                litert.write_files(lite, existing / export_formats.LITERT_DIRECTORY,
                                   representative)
            return existing
    except BaseException:
        if created:  # a failed export leaves nothing behind: not even the base and its lock
            _remove_created(base, created)
        raise


def _check_export_base(base):
    """Checks that `base` is (or can be made) a writable directory, before anything is
    created; returns the directories an export would create (the first missing ancestor
    first), for removal if it fails."""
    missing = []
    existing = base
    while not existing.exists() and not existing.is_symlink():
        missing.append(existing)
        if existing.parent == existing:
            break
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{str(existing)!r} is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = (f"{str(existing)!r} cannot be written to (a read-only file system, or "
                   "no permission)")
    if problem:
        raise ValueError(
            f"Received export_base={str(base)!r}, but {problem}. Expected a directory TF "
            "Serving watches (created if missing) that this user may write; choose another "
            "--export_base.")
    return list(reversed(missing))


def _remove_created(base, created):
    lock = base / directory_lock.LOCK_NAME
    if lock.is_file() and not lock.is_symlink() and [p.name for p in base.iterdir()] == [
            directory_lock.LOCK_NAME]:
        lock.unlink()
    for directory in reversed(created):
        try:
            directory.rmdir()  # only if empty: what another process put there stays
        except OSError:
            return
