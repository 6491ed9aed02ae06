"""The record files of a work directory (config, genotype, results, summaries), written so
that a crash never leaves half a file and read so that a damaged one is named.

Writes go to a temporary file in the same directory, are flushed to disk (`fsync`) and then
renamed over the old file: a reader sees the old record or the new one, never a mix. Reads
raise `RecordError` naming the file, what is wrong with it and what to do.

>>> write_json(workdir / "results.json", {"test_accuracy": 0.97})   # doctest: +SKIP
>>> read_json(workdir / "results.json")["test_accuracy"]            # doctest: +SKIP
0.97
"""

import json
import os
import pathlib
import uuid


class RecordError(ValueError):
    """A record file of a work directory cannot be read (damaged, not UTF-8, not JSON)."""


def atomic_write_text(path, text):
    """Replaces `path` by a file holding `text` (UTF-8), atomically; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are 0600 whatever the umask, so a colleague or a serving
    # account could read the history (0644) but not the config. 0666 & ~umask, as open().
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    sync_directory(path.parent)
    return path


def sync_directory(directory):
    """Flushes a directory's entries (a rename in it) to disk, where the platform allows."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_json(path, data):
    """Writes `data` as indented JSON to `path` atomically; returns the path."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str)
                             + "\n")


def read_text(path, what="record"):
    """The text of `path` (UTF-8); `RecordError` naming the file if it is not readable text.
    `what` says in the message what the file holds (e.g. "the run's configuration")."""
    path = pathlib.Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(damaged_message(
            path, what, f"it is not UTF-8 text (byte {error.start})")) from None


def read_json(path, what="record"):
    """The JSON value in `path`; `RecordError` naming the file if it is damaged."""
    path = pathlib.Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        problem = ("it is empty" if not text.strip() else
                   f"it is not valid JSON ({error.msg} at line {error.lineno}, "
                   f"column {error.colno})")
        raise RecordError(damaged_message(path, what, problem)) from None


def damaged_message(path, what, problem):
    """The message for a damaged record: the file, what is wrong, what to do."""
    return (f"The file {str(path)!r} ({what}) cannot be read: {problem}. It was probably "
            "damaged outside egs_keras (a copy, an editor, a full disk). Restore it from a "
            "backup, or delete it to let the run write it again (for config.json or "
            "genotype.json: only if you pass the same config and genotype as before).")
