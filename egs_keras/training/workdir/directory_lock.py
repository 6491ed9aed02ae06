"""One process per work directory: an exclusive lock held for the life of a run.

The lock is an OS file lock (`fcntl.flock`) on `<directory>/.lock`: the kernel releases it
when the process ends in any way (exit, exception, kill -9), so a lock left by a dead process
never blocks a new run. The file records the holder (host, process id, command, start time),
which a refused process names; a `.lock` that is a link, a directory or another file's
hard link is refused, never written (`file_locks`). Nested claims of one directory in one
process (a pipeline stage inside its pipeline, a segmentation run's cell search) share the
lock.

>>> with claim(workdir):                  # doctest: +SKIP
...     run_the_search()
"""

import contextlib
import datetime
import json
import os
import pathlib
import socket
import sys
import threading

from egs_keras import file_locks

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not protected there
    fcntl = None

LOCK_NAME = ".lock"


class DirectoryBusyError(RuntimeError):
    """Another process holds the work directory."""


LockFileError = file_locks.LockFileError  # `<directory>/.lock` is not a plain file

_held = {}          # resolved directory -> [file object, number of nested claims]
_held_guard = threading.Lock()


@contextlib.contextmanager
def claim(directory):
    """Holds the exclusive lock of `directory` (created if needed) while the block runs;
    raises `DirectoryBusyError` naming the holder if another process has it."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = str(directory.resolve())
    with _held_guard:
        entry = _held.get(key)
        if entry is None:
            entry = _held[key] = [_acquire(directory), 0]
        entry[1] += 1
    try:
        yield directory
    finally:
        with _held_guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                entry[0].close()  # closing the file releases the lock


def _acquire(directory):
    path = directory / LOCK_NAME
    file = file_locks.open_lock_file(path)
    if fcntl is None:
        return file
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = file.read().strip() or "unknown"
        file.close()
        raise DirectoryBusyError(
            f"The work directory {str(directory)!r} is in use by another process ({holder}). "
            "Two runs writing one directory would mix their checkpoints and records. Wait for "
            "it to finish (or stop it), or choose another --workdir.") from None
    file.seek(0)
    file.truncate()
    file.write(json.dumps({
        "host": socket.gethostname(), "pid": os.getpid(),
        "command": " ".join(sys.argv)[:200],
        "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }) + "\n")
    file.flush()
    return file
