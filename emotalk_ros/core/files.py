"""Writing output files safely: a temporary file in the destination folder, renamed on success.

:func:`atomic_write` is used by every command that writes a result (``emotalk animate``, style
and rig files): a write that fails part way (a full disk, Ctrl-C, a bug) leaves the previous
file untouched and no partial file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator

from emotalk_ros.errors import EmotalkError


def _new_file_mode(path: str) -> int:
    """Permission bits for ``path``: an existing file's, else 0o666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing (``mode`` 'w' or 'wb', further
    ``open`` keywords such as ``newline``); when the block ends without an exception the file
    is flushed, synced and renamed over ``path`` (atomic on POSIX); on any exception it is
    removed and ``path`` is left as it was. Raises :class:`EmotalkError` when the folder does
    not exist or the file cannot be created, written or renamed."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise EmotalkError(f"cannot write {path}: folder {d} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=d)
    except OSError as exc:
        raise EmotalkError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise EmotalkError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
