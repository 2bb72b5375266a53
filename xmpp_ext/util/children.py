"""Child processes that never outlive their parent and stop as a whole group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Run in the child before exec: Linux sends it SIGTERM when the parent dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to the process group led by ``pid`` (a child started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _process_table() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, fields after the command name: state, ppid, pgrp, ...) of every process in /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
                yield int(entry.name), handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    return [pid for pid, fields in _process_table() if fields[0] != b"Z" and int(fields[2]) == pgid]


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system, seconds) used so far by the live processes of group ``pgid``."""
    ticks = 0
    for _pid, fields in _process_table():
        if fields[0] != b"Z" and int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of /proc/PID/stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def stop_group(process: subprocess.Popen, grace: float) -> None:
    """Stop ``process``'s whole group: SIGTERM, up to ``grace`` seconds, then SIGKILL what is left.

    When the leader is a wrapper script (ejabberdctl around Erlang's VM), the
    members under it are signalled first and the leader left to reap them and
    exit on its own: killing the wrapper first would orphan the VM, which
    then lingers as a zombie. Members that are not our children are awaited
    through pidfds, so a graceful shutdown gets its time.
    """
    members = group_members(process.pid)
    descriptors = []
    for pid in members:
        with contextlib.suppress(OSError):
            descriptors.append(os.pidfd_open(pid))
    for pid in [member for member in members if member != process.pid] or [process.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        pending = list(descriptors)
        while pending and (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(pending, [], [], remaining)
            pending = [fd for fd in pending if fd not in ready]
    finally:
        for descriptor in descriptors:
            os.close(descriptor)
    signal_group(process.pid, signal.SIGKILL)
    process.wait()


def stop_detached(pid: int) -> None:
    """SIGTERM a process that escaped our process group, with its children (found through /proc)."""
    children = [child for child, fields in _process_table() if int(fields[1]) == pid]
    for target in [pid, *children]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGTERM)
