"""The reaper (xmpp_ext.util.reaper) and the sweep of dead owners' server dirs, with stand-in servers.

The stand-in "server" is a shell that starts two sleepers, one of them in a
session of its own (as Erlang's helpers are), each printing ``up`` when it
runs and carrying a marker on its command line to be found by.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.processes import processes_mentioning
from xmpp_ext.servers.base import OWNER_FILE, remove_stale_workdirs
from xmpp_ext.util.children import identity_alive, oldest_child, process_identity
from xmpp_ext.util.reaper import reaper_command

pytestmark = pytest.mark.timeout(60)

SLEEPER = "import os, time; os.write(1, b'up\\n'); time.sleep(120)"  # one write: the two never interleave


@dataclass
class Reaped:
    reaper: subprocess.Popen
    owner_end: int | None
    workdir: Path
    marker: str

    def close_owner_end(self) -> None:
        os.close(self.owner_end)
        self.owner_end = None


@pytest.fixture
def reaped(tmp_path):
    """A stand-in server under a reaper, both sleepers running; the owner's end of the pipe is ours."""
    marker = f"stand-in-{uuid.uuid4().hex}"
    workdir = tmp_path / "server"
    workdir.mkdir()
    sleeper = f"{sys.executable} -c {SLEEPER!r} {marker}"
    server = ["sh", "-c", f"{sleeper} & setsid {sleeper} & wait", marker]
    reaper_end, owner_end = os.pipe()
    reaper = subprocess.Popen(
        reaper_command(server, reaper_end, workdir),
        pass_fds=(reaper_end,),
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(reaper_end)
    running = Reaped(reaper, owner_end, workdir, marker)
    try:
        assert [reaper.stdout.readline(), reaper.stdout.readline()] == ["up\n", "up\n"]
        yield running
    finally:
        if running.owner_end is not None:
            os.close(running.owner_end)
        reaper.wait(30)
        reaper.stdout.close()


def test_the_owner_ending_ends_the_whole_tree_and_removes_the_dir(reaped):
    assert len(processes_mentioning(reaped.marker, settle=0)) == 4  # reaper, shell, two sleepers
    reaped.close_owner_end()  # what the kernel does when the owner ends, even by SIGKILL
    reaped.reaper.wait(30)
    assert processes_mentioning(reaped.marker, settle=0) == []
    assert not reaped.workdir.exists()


def test_the_owner_ending_with_its_parent_death_signal_too_ends_everything(reaped):
    # The owner's end brings both at once: end-of-file on the pipe and SIGTERM (the parent-death signal).
    reaped.reaper.send_signal(signal.SIGTERM)
    reaped.close_owner_end()
    reaped.reaper.wait(30)
    assert processes_mentioning(reaped.marker, settle=0) == []
    assert not reaped.workdir.exists()


def test_a_stop_signal_ends_the_tree_but_keeps_the_dir_of_a_living_owner(reaped):
    reaped.reaper.send_signal(signal.SIGTERM)
    # The shell, ended by SIGTERM: the reaper passes on how the server ended.
    assert reaped.reaper.wait(30) == 128 + signal.SIGTERM
    assert processes_mentioning(reaped.marker, settle=0) == []
    assert reaped.workdir.is_dir()


def test_the_server_ending_ends_the_rest_and_passes_its_status_on(reaped):
    os.kill(oldest_child(reaped.reaper.pid), signal.SIGKILL)  # the shell: its sleepers live on, orphaned
    assert reaped.reaper.wait(30) == 128 + signal.SIGKILL
    assert processes_mentioning(reaped.marker, settle=0) == []
    assert reaped.workdir.is_dir()


def finished_process_identity() -> str:
    process = subprocess.Popen(["sleep", "60"])
    identity = process_identity(process.pid)
    process.kill()
    process.wait()
    return identity


def test_a_process_identity_outlives_its_pid():
    assert identity_alive(process_identity())
    assert not identity_alive(finished_process_identity())
    assert not identity_alive(f"{os.getpid()} 1")  # the same pid, started at another time: another process
    assert not identity_alive("garbage")


def test_only_the_dirs_of_ended_owners_are_swept(tmp_path):
    def workdir(name: str, owner: str | None) -> Path:
        path = tmp_path / name
        path.mkdir()
        if owner is not None:
            (path / OWNER_FILE).write_text(owner + "\n")
        return path

    dead = workdir("xmppext-prosody-dead", finished_process_identity())
    alive = workdir("xmppext-ejabberd-alive", process_identity())
    unknown = workdir("xmppext-prosody-old", None)  # another version's, or one being made right now
    other = workdir("someone-else", finished_process_identity())
    link = tmp_path / "xmppext-link"
    link.symlink_to(dead)
    assert remove_stale_workdirs(tmp_path) == [dead]
    assert not dead.exists()
    assert alive.is_dir() and unknown.is_dir() and other.is_dir() and link.is_symlink()
