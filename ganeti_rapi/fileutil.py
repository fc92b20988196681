"""Durable file writes: a reader sees the old content or the new, never half.

These functions block (they fsync); daemons call them through a thread,
command-line tools call them directly.
"""

import os
import tempfile


def fsync_directory(directory):
    """Make a rename or a new name in C{directory} durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o600):
    """Replace C{path} by C{data} (bytes) atomically.

    The data is written under a temporary name in the same directory with
    C{mode}, synced, renamed over C{path}, and the directory is synced.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o750, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(directory)
