"""The fault proxy between real clients and the real server: it forwards, cuts and stalls as told."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest
from slixmpp.exceptions import IqTimeout

from tests.integration.helpers import run, settings_for
from tests.integration.processes import XMPPEXT, client_env
from xmpp_ext.faultproxy import FaultPlan, FaultProxy, ProxyThread
from xmpp_ext.session import build_client, disconnect, login

pytestmark = pytest.mark.integration

FAULT_PROXY = [sys.executable, "-m", "xmpp_ext", "fault-proxy"]


def target(server) -> tuple[str, int]:
    return (server.host, server.port)


async def logged_in_through(proxy: FaultProxy, server, account):
    """A client logged in through ``proxy``, and a future that ends with its first disconnection."""
    settings = settings_for(server, account, "proxied", port=proxy.port)
    client = build_client(settings)
    lost = asyncio.get_running_loop().create_future()
    await login(client, settings)
    client.add_event_handler("disconnected", lambda reason: lost.done() or lost.set_result(reason))
    return client, lost


def test_a_send_and_respond_exchange_passes_through_unchanged(xmpp_server, make_account, responder):
    peer = responder()
    with ProxyThread(target(xmpp_server)) as proxy:
        env = {**client_env(xmpp_server, make_account()), "XMPPEXT_PORT": str(proxy.port)}
        result = subprocess.run(
            [*XMPPEXT, "send", "-t", peer.full_jid, "--timeout", "10"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        counters = proxy.counters
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("sent 7: 7 ok, 0 failed, 0 lost")
    assert counters.connections == 1 and counters.cuts == 0 and counters.stalls == 0
    assert counters.bytes_to_server > 0 and counters.bytes_to_client > 0


def test_a_responder_cut_off_says_so_and_comes_back_through_the_proxy(xmpp_server, responder):
    with ProxyThread(target(xmpp_server)) as proxy:
        peer = responder("--port", str(proxy.port))
        assert proxy.cut_now() == 1
        line = peer.wait_for_line(lambda line: line.startswith("disconnected ("))
        assert line.endswith("; reconnecting")
        counters = proxy.wait_until(lambda counters: counters.connections >= 2, timeout=15)
        assert counters.cuts == 1
        peer.stop()


def test_a_cut_is_seen_by_the_client_at_once(xmpp_server, make_account):
    async def scenario():
        async with FaultProxy(target(xmpp_server)) as proxy:
            client, lost = await logged_in_through(proxy, xmpp_server, make_account())
            assert proxy.open_connections == 1
            assert proxy.cut_now() == 1
            await asyncio.wait_for(lost, 10)
            assert client.transport is None
            assert (proxy.counters.cuts, proxy.open_connections) == (1, 0)

    run(scenario)


def test_a_stall_holds_the_stream_without_closing_it(xmpp_server, make_account):
    async def scenario():
        async with FaultProxy(target(xmpp_server)) as proxy:
            client, lost = await logged_in_through(proxy, xmpp_server, make_account())
            disco = client.plugin["xep_0030"]
            assert proxy.stall_now(3.0) == 1
            with pytest.raises(IqTimeout):
                await disco.get_info(jid=xmpp_server.domain, timeout=0.5)
            # The same connection carries the next request once the stall is over.
            info = await disco.get_info(jid=xmpp_server.domain, timeout=10)
            assert info["type"] == "result"
            assert not lost.done()
            assert (proxy.counters.stalls, proxy.counters.cuts, proxy.counters.connections) == (1, 0, 1)
            await disconnect(client)

    run(scenario)


def test_overlapping_stalls_hold_until_the_last_one_ends(xmpp_server, make_account):
    async def scenario():
        faults: list[str] = []
        async with FaultProxy(target(xmpp_server), on_fault=faults.append) as proxy:
            client, lost = await logged_in_through(proxy, xmpp_server, make_account())
            disco = client.plugin["xep_0030"]
            proxy.stall_now(3.0)
            proxy.stall_now(0.1)  # ends first: must not let data through
            with pytest.raises(IqTimeout):
                await disco.get_info(jid=xmpp_server.domain, timeout=1.0)
            info = await disco.get_info(jid=xmpp_server.domain, timeout=10)
            assert info["type"] == "result" and not lost.done()
            assert [line.split(":")[0] for line in faults] == ["stalled for 3s", "stalled for 0.1s"]
            await disconnect(client)

    run(scenario)


def test_planned_cuts_by_time_and_by_bytes(xmpp_server, make_account):
    async def scenario():
        async with FaultProxy(target(xmpp_server), plan=FaultPlan(cut_every_seconds=1.0)) as proxy:
            _client, lost = await logged_in_through(proxy, xmpp_server, make_account())
            await asyncio.wait_for(lost, 10)
            assert proxy.counters.cuts == 1
        budget = 64 * 1024  # more than a login takes, so the session starts first
        async with FaultProxy(target(xmpp_server), plan=FaultPlan(cut_every_bytes=budget)) as proxy:
            client, lost = await logged_in_through(proxy, xmpp_server, make_account())
            disco = client.plugin["xep_0030"]
            for _ in range(10_000):  # bounded: each round trip moves some hundred bytes
                if lost.done():
                    break
                try:
                    await disco.get_info(jid=xmpp_server.domain, timeout=5)
                except IqTimeout:
                    break  # the cut came between request and reply
            await asyncio.wait_for(lost, 10)
            counters = proxy.counters
            assert counters.cuts == 1
            assert counters.bytes_to_server + counters.bytes_to_client == budget  # cut at the byte

    run(scenario)


def test_a_planned_stall_is_a_stall_not_a_cut(xmpp_server, make_account):
    async def scenario():
        plan = FaultPlan(cut_every_seconds=0.5, stall=1.0)
        async with FaultProxy(target(xmpp_server), plan=plan) as proxy:
            client, lost = await logged_in_through(proxy, xmpp_server, make_account())
            await proxy.wait_until(lambda counters: counters.stalls >= 2, timeout=10)
            info = await client.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
            assert info["type"] == "result" and not lost.done()
            assert proxy.counters.cuts == 0 and proxy.counters.connections == 1
            await disconnect(client)

    run(scenario)


def test_the_command_cuts_clients_and_prints_its_counts(xmpp_server, make_account):
    process = subprocess.Popen(
        [*FAULT_PROXY, "--listen", "0", "--to", f"{xmpp_server.host}:{xmpp_server.port}", "--cut-every", "1s"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listening = process.stdout.readline()
        assert listening.startswith("LISTENING 127.0.0.1:"), process.stderr.read()
        port = int(listening.split()[1].rsplit(":", 1)[1])

        async def scenario():
            settings = settings_for(xmpp_server, make_account(), "proxied", port=port)
            client = build_client(settings)
            lost = asyncio.get_running_loop().create_future()
            await login(client, settings)
            client.add_event_handler("disconnected", lambda reason: lost.done() or lost.set_result(reason))
            await asyncio.wait_for(lost, 10)

        run(scenario)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, stderr
    assert stderr == ""
    cut, summary = stdout.strip().splitlines()
    assert re.fullmatch(r"cut: connection from port \d+, 1\.\ds old, \d+ bytes forwarded", cut), cut
    assert summary.startswith("fault-proxy: 1 connection(s), 1 cut(s), 0 stall(s), ")
