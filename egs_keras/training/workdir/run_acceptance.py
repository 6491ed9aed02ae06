"""Whether a run may continue in a work directory, decided before anything is written.

A directory keeps the config (and, for a training run, the genotype) its run started with.
Started again, the run compares what it was given with that record:

* fields that only say how long or how fast to run, or what to export afterwards
  (`MAY_CHANGE`: epochs, Grappler, the data directory, the evaluation batch size, the export
  section) may change: the change is appended to
  `config_changes.json` with the epoch from which it applies, and `config.json` then holds
  the new value;
* any other change (shapes, operations, M, seed, execution, mode, data set, image size,
  learning rates, the genotype) would continue a run with a different model, data or search
  than its checkpoints hold, so it is refused with every changed field listed, unless the
  directory holds no results yet (no checkpoint, history or results), in which case nothing
  is lost and the new config replaces the old.

>>> accept_config(config, workdir)          # doctest: +SKIP
"""

import json
import pathlib
import re

from egs_keras import record_files

MAY_CHANGE = ("epochs", "graph_optimizer", "data_dir", "eval_batch_size")
MAY_CHANGE_SECTIONS = ("export",)  # every field of these sections may change
# Values renamed since runs were first recorded, equal to their new names: a field (the last
# part of its key) → {old value: new value}. Tasks were named by their genotype kinds.
RENAMED = {"task": {"cnn": "classification", "rnn": "language"}}
CHANGES_NAME = "config_changes.json"
_CHECKPOINT = re.compile(r"^ckpt-(\d+)\.index$")
_MISSING = "<absent>"


class RunMismatchError(ValueError):
    """The requested config or genotype differs from the one a work directory's run used."""


def accept_config(config, directory, write=True):
    """Checks `config` (a ConfigDict or dict) against `<directory>/config.json`; raises
    `RunMismatchError` for a refused change, else (with `write`) records the config and any
    accepted change. Returns the list of changed fields."""
    directory = pathlib.Path(directory)
    new = _plain(config.to_dict() if hasattr(config, "to_dict") else dict(config))
    path = directory / "config.json"
    if not path.exists():
        if write:
            record_files.write_json(path, new)
        return []
    old = record_files.read_json(path, "the configuration this run started with")
    changes = _differences(_flatten(old), _flatten(new))
    if not changes:
        return []
    refused = [c for c in changes if c[0].rsplit(".", 1)[-1] not in MAY_CHANGE
               and c[0].split(".", 1)[0] not in MAY_CHANGE_SECTIONS]
    if refused and has_results(directory):
        raise RunMismatchError(_refusal(directory, "config", refused))
    if write:
        _record_changes(directory, changes)
        record_files.write_json(path, new)
    return [field for field, _, _ in changes]


def accept_genotype(genotype, directory, write=True):
    """Checks a `Genotype` against `<directory>/genotype.json` as `accept_config` does (any
    change is refused once the directory holds results); writes it with `write`."""
    from egs_keras import search_space  # noqa: PLC0415 (the genotype module imports models)

    directory = pathlib.Path(directory)
    path = directory / "genotype.json"
    new = _plain(genotype.to_dict())
    if path.exists():
        text = record_files.read_text(path, "the genotype this run trains")
        try:
            old = _plain(search_space.Genotype.from_json(text).to_dict())
        except ValueError as error:
            raise record_files.RecordError(record_files.damaged_message(
                path, "the genotype this run trains", str(error))) from None
        if old == new:
            return
        if has_results(directory):
            changes = _differences(_flatten(old), _flatten(new))
            raise RunMismatchError(_refusal(directory, "genotype", changes))
    if write:
        record_files.atomic_write_text(path, genotype.to_json() + "\n")


def accept_training(config, genotype, directory, write=True):
    """`accept_config` and `accept_genotype` for a training run: both are checked before
    either is written, so a refused genotype leaves the config untouched and vice versa."""
    accept_genotype(genotype, directory, write=False)
    accept_config(config, directory, write=write)
    accept_genotype(genotype, directory, write=write)


def has_results(directory):
    """Whether `directory` holds anything a changed run would lose or mix: a checkpoint, an
    epoch of history, results or a summary (in it or in its stage directories)."""
    directory = pathlib.Path(directory)
    for path in directory.rglob("*"):
        name = path.name
        if _CHECKPOINT.match(name) or name in ("results.json", "summary.json"):
            return True
        if name == "history.csv" and len(path.read_bytes().splitlines()) > 1:
            return True
    return False


def latest_epoch(directory):
    """The number of finished epochs of the newest checkpoint in `<directory>/checkpoints`
    (checkpoints are numbered by epoch), or 0."""
    folder = pathlib.Path(directory) / "checkpoints"
    numbers = [int(m.group(1)) for m in map(_CHECKPOINT.match, _names(folder)) if m]
    return max(numbers, default=0)


def _names(folder):
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


def _record_changes(directory, changes):
    path = directory / CHANGES_NAME
    history = (record_files.read_json(path, "the record of config changes")
               if path.exists() else [])
    history.extend({"field": field, "old": old, "new": new,
                    "from_epoch": _change_epoch(directory, field)}
                   for field, old, new in changes)
    record_files.write_json(path, history)


def _change_epoch(directory, field):
    """The epoch from which a change of `field` takes effect: the number of finished epochs
    of the run it changes (in a pipeline's directory, `search.*` changes its search/ stage
    and `train.*` its train/ stage; elsewhere the directory's own checkpoints)."""
    section = field.split(".", 1)[0]
    stage = directory / section
    if section in ("search", "train") and (stage / "checkpoints").is_dir():
        return latest_epoch(stage)
    return latest_epoch(directory)


def _refusal(directory, what, changes):
    lines = "\n".join(f"  {field}: {old!r} -> {new!r}" for field, old, new in changes)
    allowed = ", ".join(MAY_CHANGE) + "".join(f" and the {s} section"
                                               for s in MAY_CHANGE_SECTIONS)
    return (f"The work directory {str(directory)!r} holds a run with another {what}; "
            f"continuing it with this one would mix two different runs. Changed:\n{lines}\n"
            f"Only these fields may change when a run resumes: {allowed}. Pass the {what} "
            "the run started with to resume it, or choose a new --workdir to start another "
            "run.")


def _plain(data):
    """`data` as JSON would give it back (tuples as lists, other objects as strings)."""
    return json.loads(json.dumps(data, default=str))


def _flatten(data, prefix=""):
    if isinstance(data, dict):
        flat = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: data}


def _differences(old, new):
    def value(flat, key):
        found = flat.get(key, _MISSING)
        renamed = RENAMED.get(key.rsplit(".", 1)[-1], {})
        return renamed.get(found, found) if isinstance(found, str) else found

    return [(key, old.get(key, _MISSING), new.get(key, _MISSING))
            for key in sorted(set(old) | set(new)) if value(old, key) != value(new, key)]
