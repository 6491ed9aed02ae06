"""The checkpoint files of a run, checked before they are used.

TensorFlow names a checkpoint by its epoch (`ckpt-<n>.index` + `ckpt-<n>.data-*`) and points
at the newest in the state file `checkpoint`. `find_intact` trusts neither the state file nor
the newest files blindly: it reads checkpoints newest first (every tensor, whose checksums TF
verifies) and returns the first one that reads completely. With `repair` (a run that owns the
directory) it also

* sets aside each damaged checkpoint it met (renamed `ckpt-<n>.*.damaged`, never deleted) with
  a warning naming it,
* rewrites a missing, unreadable or stale state file from the intact checkpoints on disk (so
  a lost state file never makes a run start again over its own checkpoints),
* removes what interrupted saves leave behind (`ckpt-<n>_temp/`, `checkpoint.tmp*`).

>>> find_intact("runs/demo/train/checkpoints", repair=True)    # doctest: +SKIP
'runs/demo/train/checkpoints/ckpt-3'
"""

import logging
import pathlib
import re
import shutil

import tensorflow as tf

from egs_keras import record_files

STATE_NAME = "checkpoint"
DAMAGED_SUFFIX = ".damaged"
_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
_LEFTOVER = re.compile(r"^(ckpt-\d+_temp.*|checkpoint\.tmp.*)$")

_log = logging.getLogger(__name__)


def find_intact(directory, repair=False):
    """The path prefix of the newest checkpoint in `directory` that reads completely, or
    None if there is none; with `repair`, also fixes the directory (see the module)."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return None
    if repair:
        _remove_leftovers(directory)
    numbers = sorted((int(m.group(1)) for m in map(_INDEX.match, _names(directory)) if m),
                     reverse=True)
    intact = None
    for number in numbers:
        prefix = directory / f"ckpt-{number}"
        problem = damage(prefix)
        if problem is None:
            intact = number
            break
        if repair:
            set_aside(prefix, problem)
        else:
            _log.warning("Checkpoint %s is damaged (%s); using an older one.", prefix, problem)
    if repair:
        kept = [n for n in numbers if n <= intact] if intact is not None else []
        _write_state(directory, sorted(kept))
    return None if intact is None else str(directory / f"ckpt-{intact}")


def damage(prefix):
    """None if the checkpoint `prefix` reads completely, else what is wrong with it."""
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # noqa: BLE001 (TF raises many kinds for damaged bytes)
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
    return None


def set_aside(prefix, problem):
    """Renames the files of checkpoint `prefix` to `<name>.damaged`, with a warning."""
    prefix = pathlib.Path(prefix)
    moved = []
    for path in sorted(prefix.parent.glob(prefix.name + ".*")):
        if path.name.endswith(DAMAGED_SUFFIX):
            continue
        target, copy = path.with_name(path.name + DAMAGED_SUFFIX), 1
        while target.exists():  # damaged before: keep both
            copy += 1
            target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}-{copy}")
        path.rename(target)
        moved.append(target.name)
    _log.warning("Checkpoint %s is damaged (%s): set aside as %s; resuming from the newest "
                 "intact checkpoint instead.", prefix, problem,
                 ", ".join(moved))


def _write_state(directory, numbers):
    """Makes the state file list exactly the checkpoints `numbers` (newest last)."""
    path = directory / STATE_NAME
    if not numbers:
        if path.exists():
            path.rename(path.with_name(path.name + DAMAGED_SUFFIX))
        return
    text = f'model_checkpoint_path: "ckpt-{numbers[-1]}"\n' + "".join(
        f'all_model_checkpoint_paths: "ckpt-{n}"\n' for n in numbers)
    if _state_paths(directory) == [f"ckpt-{n}" for n in numbers]:
        return
    if path.exists():
        _log.warning("The checkpoint state file %s did not list the intact checkpoints on "
                     "disk; rewritten to point at ckpt-%d.", path, numbers[-1])
    record_files.atomic_write_text(path, text)


def _state_paths(directory):
    """The checkpoints the state file lists (newest last), or None if it is unreadable."""
    try:
        state = tf.train.get_checkpoint_state(str(directory))
    except Exception:  # noqa: BLE001 (not UTF-8, not a text proto)
        return None
    if state is None or not state.model_checkpoint_path:
        return None
    paths = [pathlib.Path(p).name for p in state.all_model_checkpoint_paths]
    latest = pathlib.Path(state.model_checkpoint_path).name
    return paths if paths and paths[-1] == latest else None


def _remove_leftovers(directory):
    for name in _names(directory):
        if _LEFTOVER.match(name):
            path = directory / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _names(directory):
    return [p.name for p in directory.iterdir()]
