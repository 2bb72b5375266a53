"""Which scripts a directory argument means: every ``*.scs`` below it, but for what is excluded.

Hidden directories (``.git``, ``.venv``, ``.tox``) are never entered, nor are
symbolic links to directories (a link loop must not make the walk endless);
at most ``MAX_SCRIPTS`` scripts are taken from one directory.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

SUFFIX = ".scs"
MAX_SCRIPTS = 10_000


class TooManyScripts(ValueError):
    """More than MAX_SCRIPTS scripts below one directory: probably not the directory meant."""


def excluded(relative: PurePosixPath, patterns: Iterable[str]) -> bool:
    """Whether ``relative`` (a path below the directory) matches a pattern, whole or by one of its parts.

    ``live`` excludes a directory of that name anywhere below, ``live/*.scs``
    the scripts directly in it, ``*_slow.scs`` any script so named.
    """
    text = relative.as_posix()
    return any(fnmatch.fnmatchcase(text, pattern) or relative.match(pattern) for pattern in patterns) or any(
        fnmatch.fnmatchcase(part, pattern) for part in relative.parts for pattern in patterns
    )


def scripts_below(directory: Path, exclude: Iterable[str] = ()) -> list[Path]:
    """Every ``*.scs`` file below ``directory`` not excluded, in path order; TooManyScripts past the limit."""
    patterns = tuple(exclude)
    found: list[Path] = []
    for root, directories, files in os.walk(directory):
        here = Path(root)
        relative_root = PurePosixPath(here.relative_to(directory).as_posix())
        # Pruned in place: os.walk then never enters them.
        directories[:] = sorted(
            name for name in directories if not name.startswith(".") and not excluded(relative_root / name, patterns)
        )
        for name in sorted(files):
            if name.endswith(SUFFIX) and not excluded(relative_root / name, patterns):
                found.append(here / name)
                if len(found) > MAX_SCRIPTS:
                    raise TooManyScripts(f"more than {MAX_SCRIPTS} *{SUFFIX} scripts below {directory}")
    return sorted(found)
