"""Writing the recorded script: never over an existing file unless asked, with the user's umask.

Unlike the .env (mode 600: it holds passwords), a script holds none and is
meant to be shared and committed, so it gets the mode any new file of the
user's gets (0666 minus the umask).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

MAX_OTHER_NAMES = 100


def problem_writing(path: Path, force: bool) -> str | None:
    """Why ``path`` cannot be written (checked before recording starts), or None."""
    if path.is_dir():
        return f"{path} is a directory"
    if (path.exists() or path.is_symlink()) and not force:
        return f"{path} exists; not overwriting it (--force replaces it)"
    directory = path.parent
    if not directory.is_dir():
        return f"{path}: no such directory {directory}"
    if not os.access(directory, os.W_OK):
        return f"{path}: cannot write in {directory}"
    return None


def write_script(path: Path, text: str, force: bool) -> Path:
    """Write ``text`` to ``path`` and return where it went (OSError when it cannot be written).

    With ``force`` an existing file is replaced atomically (a new file renamed
    over it). Without, the file is created only if it does not exist, in one
    step (O_EXCL): if something appeared at ``path`` while recording, the
    script goes to ``NAME-2.scs`` (or the next free number) instead of being lost.
    """
    data = text.encode("utf-8")
    if force:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        _create(temporary, data)
        try:
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return path
    for candidate in _candidates(path):
        try:
            _create(candidate, data)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{path} and {MAX_OTHER_NAMES} names beside it exist")


def _candidates(path: Path):
    yield path
    for number in range(2, MAX_OTHER_NAMES + 2):
        yield path.with_name(f"{path.stem}-{number}{path.suffix}")


def _create(path: Path, data: bytes) -> None:
    """A new file (never an existing one, never through a link) holding ``data``, flushed to disk."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
