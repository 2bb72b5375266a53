"""What ``--responder`` starts: a command line, split and checked before anything runs.

Only the standard library here: the pytest plugin checks its
``xmpp_scenario_responder`` setting with it while pytest starts.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class ResponderCommand:
    """What to start, and how long it may take to come online."""

    argv: tuple[str, ...]
    ready_timeout: float = READY_TIMEOUT
    cwd: Path | None = None  # where it runs (None: the current directory)

    @classmethod
    def parse(cls, command: str, ready_timeout: float = READY_TIMEOUT, cwd: Path | None = None) -> ResponderCommand:
        """``command`` split as a shell would (no shell runs it); ValueError naming what is wrong."""
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:
            raise ValueError(f"{command!r} cannot be split into words ({exc})") from None
        if not argv:
            raise ValueError("the command is empty")
        program = argv[0]
        if "/" in program and cwd is not None:  # a path is relative to where it will run
            program = str(cwd / program)
        if shutil.which(program) is None:
            raise ValueError(f"{argv[0]!r} is not a program on PATH (nor an executable file)")
        return cls(argv, ready_timeout, cwd)

    @property
    def shown(self) -> str:
        return shlex.join(self.argv)
