"""A reaper: runs a server's whole process tree for an owner process and ends it when the owner is gone.

Why: the parent-death signal (``die_with_parent``) reaches only the direct
child, and only when the thread that started it ends. Killed with SIGKILL,
an owner of ejabberd took ``ejabberdctl`` with it, but Erlang's VM under it
(``beam.smp``) lived on, listening on three loopback ports, with
``erl_child_setup`` and its helpers (each in a session of its own) under it.

The owner runs ``reaper_command(...)`` in a new session; the reaper, a small
Python process:

* makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``): what the
  server's processes leave orphaned becomes its child, not init's, so it can
  be signalled and reaped however deep it was;
* starts the server in its own process group (as the given user), with the
  parent-death signal;
* waits for the first of: the read end of a pipe whose write end only the
  owner holds reaching end-of-file (the owner has ended, however it ended:
  the kernel closes the pipe even on SIGKILL), the server ending, SIGTERM;
* then ends the tree: SIGTERM to every process of its group and every child
  of its own, ``GRACE`` seconds, then SIGKILL to what is left, until it has
  no child at all (a descendant leaving the group is still found: as its
  ancestors end, it becomes the reaper's child);
* if the owner is gone, removes the server's directory, which the owner no
  longer can;
* exits with the server's status, so the owner sees how the server ended.

It runs as ``python -I`` (no environment variables, no current directory on
sys.path: the server's directory belongs to the server's user) and imports
only the standard library and xmpp_ext.util.children.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from xmpp_ext.util.children import die_with_parent, process_table

GRACE = 5.0  # seconds between SIGTERM and SIGKILL
_LOOK_AGAIN = 0.2  # seconds between looks for processes orphaned below us while the tree ends
_PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def reaper_command(
    command: list[str], owner_fd: int, workdir: Path, run_as: tuple[int, int] | None = None
) -> list[str]:
    """The command line that runs ``command`` under a reaper; pass ``owner_fd`` (a pipe's read end) to it.

    ``run_as``: (uid, gid) for the server (the reaper itself stays who the owner is).
    """
    package_parent = str(Path(__file__).resolve().parents[2])
    start = f"import sys; sys.path.insert(0, {package_parent!r}); from xmpp_ext.util.reaper import main; main()"
    line = [sys.executable, "-I", "-c", start, str(owner_fd), str(workdir)]
    if run_as is not None:
        line += ["--user", str(run_as[0]), "--group", str(run_as[1])]
    return [*line, "--", *command]


def _note_stop(_signum: int, _frame: object) -> None:
    """SIGTERM or SIGINT: nothing to do here, the wake-up pipe (signal.set_wakeup_fd) ends the wait.

    Raising from the handler instead would race: the owner's end comes with the parent-death signal,
    and a stop arriving as the wait returns for the other reason would escape any ``try``.
    """


def _child_setup() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    die_with_parent()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    separator = args.index("--")
    owner_fd, workdir = int(args[0]), Path(args[1])
    options = dict(zip(args[2:separator:2], args[3:separator:2], strict=True))
    command = args[separator + 1 :]
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)
    # Held while the server starts, so a stop cannot come between its fork and our knowing its pid.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    stop_read, stop_write = os.pipe()
    os.set_blocking(stop_write, False)
    signal.set_wakeup_fd(stop_write)
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _note_stop)
    user = int(options["--user"]) if "--user" in options else None
    server = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        user=user,
        group=int(options["--group"]) if "--group" in options else None,
        extra_groups=[] if user is not None else None,
        preexec_fn=_child_setup,
    )
    server_ended = os.pidfd_open(server.pid)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # a stop already pending wakes the wait at once
    select.select([owner_fd, server_ended, stop_read], [], [])
    status = end_tree(server.pid)
    if owner_gone(owner_fd):
        shutil.rmtree(workdir, ignore_errors=True)
    os._exit(_exit_code(status))


def owner_gone(owner_fd: int) -> bool:
    """Whether the owner's end of the pipe is closed (it never writes: readable means end-of-file)."""
    readable, _, _ = select.select([owner_fd], [], [], 0)
    return bool(readable) and os.read(owner_fd, 1) == b""


def end_tree(server_pid: int, grace: float = GRACE) -> int | None:
    """Stop every process of our group and every child of ours; the server's wait status once reaped.

    SIGTERM first, to each process once as it turns up (a process orphaned below us becomes our child,
    without a signal telling us: hence a look every ``_LOOK_AGAIN`` seconds), SIGKILL to all that are left
    after ``grace``; it gives up after two more ``grace`` periods (a process stuck in the kernel).
    """
    server_status = None
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # awaited with sigtimedwait below
    signalled: set[int] = set()
    started = time.monotonic()
    signum = signal.SIGTERM
    while True:
        signalled |= _signal_tree(signum, skip=signalled)
        try:
            while True:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                if pid == server_pid:
                    server_status = status
        except ChildProcessError:
            return server_status  # no child left: no descendant left
        elapsed = time.monotonic() - started
        if elapsed >= 3 * grace:
            return server_status
        if signum == signal.SIGTERM and elapsed >= grace:
            signum, signalled = signal.SIGKILL, set()
            continue
        signal.sigtimedwait({signal.SIGCHLD}, _LOOK_AGAIN)


def _signal_tree(signum: int, skip: set[int]) -> set[int]:
    """Send ``signum`` to the processes of our group and our children not in ``skip``; the pids it reached."""
    me, group = os.getpid(), os.getpgrp()
    reached = set()
    for pid, fields in process_table():
        if pid != me and pid not in skip and (int(fields[2]) == group or int(fields[1]) == me):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
                reached.add(pid)
    return reached


def _exit_code(status: int | None) -> int:
    if status is None:
        return 1
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
