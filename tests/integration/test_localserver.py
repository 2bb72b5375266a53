"""The throwaway server itself: what it binds, how it stops, how it fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xmpp_ext.servers import start_server
from xmpp_ext.util.children import group_members, process_table

pytestmark = pytest.mark.integration


def listening_tcp_ports(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that the processes ``pids`` hold."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    pid = pids[0]
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


def test_listens_only_on_loopback_where_it_should(xmpp_server):
    # Every process of the server (ejabberd is a script, a VM and helpers), every listening socket. A daemon
    # the server starts (epmd -daemon leaves its group) is reparented to the reaper, a child subreaper.
    tree = descendants(xmpp_server.process_group)
    listening = listening_tcp_ports(tree)
    assert listening == xmpp_server.listeners
    assert {address for address, _port in listening} == {"127.0.0.1"}
    assert ("127.0.0.1", xmpp_server.port) in listening
    # Erlang's port mapper (epmd, every interface, outliving the server) is never started for ejabberd.
    commands = set(command_names(tree))
    assert xmpp_server.kind == "prosody" or "beam.smp" in commands  # the check itself sees the VM
    assert "epmd" not in commands


def any_listener_on_port(port: int) -> bool:
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def command_names(pids: list[int]) -> list[str]:
    return [Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids]


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for pid, fields in process_table():
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def test_stop_kills_every_process_and_removes_the_dir(xmpp_server):
    server = start_server(xmpp_server.kind, accounts=1)
    processes, workdir = group_members(server.process_group), server.workdir
    assert processes and workdir.is_dir()
    server.stop()
    server.stop()  # idempotent
    assert not workdir.exists()
    assert group_members(processes[0]) == []
    for pid in processes:
        assert not Path(f"/proc/{pid}").exists() or "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()


def test_restart_keeps_accounts_and_certificate(xmpp_server, make_account):
    from tests.integration.helpers import run, settings_for
    from xmpp_ext.session import connected

    account = make_account()
    old_pid = xmpp_server.pid
    xmpp_server.restart()
    assert xmpp_server.pid != old_pid

    async def scenario():
        async with connected(settings_for(xmpp_server, account)) as client:
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


def test_removed_account_is_gone_with_its_roster_and_can_be_made_again(xmpp_server, make_account):
    from tests.integration.helpers import run
    from xmpp_ext.session import ConnectError, connected

    contact = make_account()
    account = xmpp_server.add_account(f"again-{os.getpid()}", password="first-password")

    async def add_contact():
        async with connected(xmpp_server.settings_for(account, "r")) as client:
            await client.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
            iq = client.make_iq_set()
            iq.enable("roster")
            iq["roster"]["items"] = {contact.jid: {"name": "contact", "subscription": "none", "groups": []}}
            await iq.send(timeout=10)
            roster = await client.get_roster(timeout=10)
            assert contact.jid in roster["roster"]["items"]

    run(add_contact)
    xmpp_server.remove_account(account)
    assert account not in xmpp_server.accounts

    async def old_password_refused():
        with pytest.raises(ConnectError, match="authentication failed"):
            async with connected(xmpp_server.settings_for(account, "r")):
                pass

    run(old_password_refused)
    again = xmpp_server.add_account(account.localpart, password="second-password")

    async def fresh_roster():
        async with connected(xmpp_server.settings_for(again, "r")) as client:
            roster = await client.get_roster(timeout=10)
            assert contact.jid not in roster["roster"]["items"]

    run(fresh_roster)
