"""The throwaway server itself: what it binds, how it stops, how it fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xmpp_ext.localserver import SERVERS, ServerNotInstalled, start_server

pytestmark = pytest.mark.integration


def listening_tcp_ports(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    listening = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                address_hex, port_hex = local.split(":")
                address = (
                    ".".join(str(int(address_hex[i : i + 2], 16)) for i in range(6, -1, -2))
                    if width == 8
                    else address_hex
                )
                listening.add((address, int(port_hex, 16)))
    return listening


def test_listens_only_on_its_loopback_port(xmpp_server):
    assert listening_tcp_ports(xmpp_server.pid) == {("127.0.0.1", xmpp_server.port)}


def test_stop_kills_the_process_and_removes_the_dir():
    server = start_server(accounts=1)
    pid, workdir = server.pid, server.workdir
    assert Path(f"/proc/{pid}").exists() and workdir.is_dir()
    server.stop()
    server.stop()  # idempotent
    assert not workdir.exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_restart_keeps_accounts_and_certificate(xmpp_server, make_account):
    from tests.integration.helpers import run, settings_for
    from xmpp_ext.client import session

    account = make_account()
    old_pid = xmpp_server.pid
    xmpp_server.restart()
    assert xmpp_server.pid != old_pid

    async def scenario():
        async with session(settings_for(xmpp_server, account)) as client:
            assert client.boundjid.bare == account.jid

    run(scenario)


def test_passwords_are_random_and_redacted(xmpp_server, make_account):
    first, second = make_account(), make_account()
    assert first.password.reveal() != second.password.reveal()
    assert first.password.reveal() not in repr(first)
    # Accounts are stored hashed: the password is nowhere in the server's files.
    for path in xmpp_server.workdir.rglob("*"):
        if path.is_file():
            assert first.password.reveal().encode() not in path.read_bytes(), path


def test_missing_server_program_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServerNotInstalled, match="scripts/setup"):
        SERVERS["prosody"]()
