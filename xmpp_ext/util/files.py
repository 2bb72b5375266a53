"""Files named by a user or a script: read only if regular, replaced only whole and never through a link.

Anything but a regular file is refused before it is read or written: a FIFO
blocks ``open()`` until someone opens its other end, a device may never end
(``/dev/zero``) or never take a byte (``/dev/full``). A file written for the
user (a report, a .env) is written under a fresh name in its directory and
renamed over the target once complete, so a reader never sees half of it, an
interrupted run leaves the old one as it was, and a symlink at the target is
never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


class NotARegularFile(Exception):
    """The path names something else; ``kind`` says what ("FIFO (named pipe)", "directory", ...)."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path}: is a {kind}, not a regular file")
        self.kind = kind


def special_file_kind(mode: int) -> str | None:
    """None for a regular file, else what it is, for an error message."""
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    )
    return next((kind for test, kind in kinds if test(mode)), "special file")


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of the regular file at ``path`` (one more than allowed tells it is too large).

    The kind is checked with ``os.stat`` first, so nothing else is even
    opened, and again on the open descriptor (opened with O_NONBLOCK, so a
    FIFO swapped in between cannot block either).

    :raises NotARegularFile: a FIFO, directory, device or socket.
    :raises OSError: it cannot be read.
    """
    name = os.fspath(path)
    kind = special_file_kind(os.stat(name).st_mode)
    if kind is None:
        descriptor = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(descriptor, "rb") as handle:
            kind = special_file_kind(os.fstat(handle.fileno()).st_mode)
            if kind is None:
                return handle.read(max_bytes + 1)
    raise NotARegularFile(name, kind)


def replaceable_problem(path: Path) -> str | None:
    """Why a file of ours may not replace ``path`` (None: it is absent or a regular file), as "is a ..." text."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    if stat.S_ISLNK(mode):
        return "is a symbolic link; xmppext does not write through links"
    kind = special_file_kind(mode)
    return None if kind is None else f"is a {kind}, not a regular file"


class ReplacingFile:
    """The next version of ``path``, made now under a fresh name beside it; ``commit(data)`` puts it in place.

    Created in the constructor, so a directory nobody may write in fails
    before any work is done. ``tempfile.mkstemp`` never opens an existing
    name nor follows a link; ``os.replace`` swaps the whole file in at once
    (over a symlink, it replaces the link, not what it points to). Until
    ``commit``, ``discard`` (or leaving a ``with`` block) removes the new
    file and leaves ``path`` as it was.
    """

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        import tempfile  # here: reading a file (a one-shot send's tag) must not pay for importing it

        self.path = path
        descriptor, self._temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self._handle = os.fdopen(descriptor, "wb")
        os.fchmod(descriptor, mode)
        self._done = False

    def commit(self, data: bytes) -> None:
        """Write ``data``, flush it to disk and rename it over ``path``; OSError (and nothing replaced) if not."""
        try:
            with self._handle:
                self._handle.write(data)
                self._handle.flush()
                os.fsync(self._handle.fileno())
            os.replace(self._temporary, self.path)
        except BaseException:
            self.discard()
            raise
        self._done = True
        _sync_directory(self.path.parent)

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temporary)

    def __enter__(self) -> ReplacingFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a directory; the file itself is synced
    finally:
        os.close(descriptor)
