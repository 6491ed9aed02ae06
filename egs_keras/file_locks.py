"""Lock files, opened so that a hostile one cannot redirect a write: a lock file that is a
symbolic link, a directory, a device or a file with other hard links is refused
(`LockFileError`) before anything is written to it.

>>> with exclusive(table_path.parent / ".latency.json.lock"):   # doctest: +SKIP
...     merge_and_write(table_path)
"""

import contextlib
import errno
import os
import pathlib
import stat

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None


class LockFileError(ValueError):
    """A lock file is not a plain file of ours (a symbolic link, a directory, ...)."""


@contextlib.contextmanager
def exclusive(path):
    """Holds an exclusive lock on the lock file `path` (created if needed) while the block
    runs, waiting for another holder to finish: for short read-merge-write updates of a file
    that several runs share (e.g. a latency table)."""
    file = open_lock_file(pathlib.Path(path))
    try:
        if fcntl is not None:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        file.close()


def open_lock_file(path):
    """`path` opened for reading and writing (created if missing), refusing what is not a
    plain file of ours: a symbolic link (never followed: a linked `.lock` would make the run
    overwrite the file it points to), a directory, a device or pipe, or a file with other
    hard links."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NONBLOCK", 0)  # a named pipe must not block the open
    problem = None
    if path.is_symlink():
        problem = f"a symbolic link (to {os.readlink(path)!r})"
    else:
        try:
            handle = os.open(path, flags, 0o666)
        except IsADirectoryError:
            problem = "a directory"
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            problem = "a symbolic link"
        else:
            status = os.fstat(handle)
            if not stat.S_ISREG(status.st_mode):
                problem = "not a regular file"
            elif status.st_nlink > 1:
                problem = f"a file with {status.st_nlink - 1} other hard link(s)"
            if problem is None:
                if hasattr(os, "set_blocking"):
                    os.set_blocking(handle, True)
                return os.fdopen(handle, "r+", encoding="utf-8")
            os.close(handle)
    raise LockFileError(
        f"The lock file {str(path)!r} is {problem}, not the plain file egs_keras writes there. "
        "Nothing was written to it. Expected a regular file (or none: it is created). If you did "
        "not put it there, someone else may have: check it, then remove it and run again.")
