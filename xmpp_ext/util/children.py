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


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Run in the child before exec: Linux sends it ``signum`` when the parent dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum)


def killed_with_parent() -> None:
    """``die_with_parent`` with SIGKILL: for a program that is not ours (it may ignore SIGTERM), and whose
    parent, had it lived, would have killed it after a grace period anyway."""
    die_with_parent(signal.SIGKILL)


def signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to the process group led by ``pid`` (a child started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def process_table() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, fields after the command name: state, ppid, pgrp, ...) of every process in /proc."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                yield int(entry.name), fields


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...); None if it has ended."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
            return handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), None if there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def process_identity(pid: int | None = None) -> str:
    """``pid`` (default: this process) and its start time: unlike a pid alone, never taken by another process."""
    pid = os.getpid() if pid is None else pid
    return f"{pid} {_start_time(pid)}"


def identity_alive(identity: str) -> bool:
    """Whether the process ``process_identity`` named is still running (a reused pid is another process)."""
    pid, _, started = identity.strip().partition(" ")
    if not pid.isdigit():
        return False
    return str(_start_time(int(pid))) == started


def oldest_child(pid: int) -> int | None:
    """The child of ``pid`` that started first (the one it started itself, before any orphan came to it)."""
    children = [(_start_time(child) or 0, child) for child, fields in process_table() if int(fields[1]) == pid]
    return min(children)[1] if children else None


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    return [pid for pid, fields in process_table() if fields[0] != b"Z" and int(fields[2]) == pgid]


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system, seconds) used so far by the live processes of group ``pgid``."""
    ticks = 0
    for _pid, fields in process_table():
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
    children = [child for child, fields in process_table() if int(fields[1]) == pid]
    for target in [pid, *children]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGTERM)
