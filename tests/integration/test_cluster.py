"""A throwaway ejabberd cluster (servers/cluster.py): two nodes on loopback, joined, routing between them.

Runs when the suite's servers include ejabberd (XMPPEXT_TEST_SERVER ejabberd or all).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import run
from tests.integration.processes import XMPPEXT, processes_mentioning, start_with_lines
from tests.integration.test_localserver import any_listener_on_port, command_names, descendants, listening_tcp_ports
from tests.integration.test_server_exchange import answer_like_the_tutorial
from xmpp_ext.pytest_plugin import SETTINGS_KEY
from xmpp_ext.session import connected
from xmpp_ext.util.children import group_members

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

IPV6_LOOPBACK = "00000000000000000000000001000000"  # ::1 as /proc/net/tcp6 writes it
PAYLOAD = {"boolean": True, "some_string": "Across_nodes", "text": "from node 1 to node 2"}


@pytest.fixture(scope="module")
def cluster(request) -> Iterator:
    if "ejabberd" not in request.config.stash[SETTINGS_KEY].kinds:
        pytest.skip("the suite's servers do not include ejabberd")
    from xmpp_ext.servers.cluster import EjabberdCluster

    started = EjabberdCluster(nodes=2)
    try:
        yield started.start()
    finally:
        started.stop()


def test_every_node_and_the_port_mapper_listen_only_on_loopback(cluster):
    listening = set()
    for group in cluster.process_groups:
        listening |= listening_tcp_ports(group_members(group))
    # epmd always adds the loopback addresses to its -address, so it listens on ::1 too (where IPv6 is on).
    assert listening - {(IPV6_LOOPBACK, cluster.epmd.port)} == cluster.listeners
    assert {address for address, _port in listening} <= {"127.0.0.1", IPV6_LOOPBACK}
    assert len({port for _address, port in listening}) == 3 * 2 + 1  # client, direct TLS, distribution; epmd
    assert any_listener_on_port(cluster.epmd.port)  # the check itself sees listeners
    # One port mapper in the cluster's process trees: its own on a private port, never one on 4369 that outlives it.
    trees = [pid for group in cluster.process_groups for pid in descendants(group)]
    assert command_names(trees).count("epmd") == 1


def test_both_nodes_are_in_one_cluster(cluster):
    for node in cluster.nodes:
        assert set(node.control("list_cluster").split()) == {member.node for member in cluster.nodes}


def test_accounts_made_in_turn_live_on_different_nodes_and_the_extension_crosses_them(cluster):
    sender, responder = cluster.add_account(), cluster.add_account()
    assert [cluster.home_of(sender), cluster.home_of(responder)] == cluster.nodes
    try:

        async def scenario():
            async with (
                connected(cluster.settings_for(responder, "responder")) as answering,
                connected(cluster.settings_for(sender, "sender")) as asking,
            ):
                # Each really is on its own node: the port it connected to is that node's.
                assert answering.transport.get_extra_info("peername")[1] == cluster.nodes[1].port
                assert asking.transport.get_extra_info("peername")[1] == cluster.nodes[0].port
                seen = answer_like_the_tutorial(answering)
                reply = await asking.plugin["example_tag"].request(answering.boundjid, PAYLOAD, timeout=10)
                assert reply["type"] == "result"
                assert reply["example_tag"]["some_string"] == "Reply_string"
                assert [iq["example_tag"]["text"] for iq in seen] == ["from node 1 to node 2"]
                assert seen[0]["from"] == asking.boundjid

        run(scenario)
    finally:
        cluster.remove_account(sender)
        cluster.remove_account(responder)


def test_a_new_session_is_routable_from_every_node_once_the_wait_returns(cluster):
    from xmpp_ext.servers import ServerFailed

    sender, responder = cluster.add_account(), cluster.add_account()
    try:

        async def scenario():
            async with connected(cluster.settings_for(responder, "responder")) as answering:
                full_jid = str(answering.boundjid)
                await asyncio.to_thread(cluster.wait_until_routable, full_jid)
                assert full_jid in cluster.nodes[0].control("connected_users").split()
                with pytest.raises(ServerFailed, match="did not learn of the session"):
                    await asyncio.to_thread(cluster.wait_until_routable, f"{sender.jid}/nowhere", 0.5)

        run(scenario)
    finally:
        cluster.remove_account(sender)
        cluster.remove_account(responder)


@pytest.fixture
def cluster_scratch(request, scratch) -> Path:
    """The killed-run tests' scratch TMPDIR (one the ejabberd user can enter), when ejabberd is in the suite."""
    if "ejabberd" not in request.config.stash[SETTINGS_KEY].kinds:
        pytest.skip("the suite's servers do not include ejabberd")
    return scratch


def test_sigkill_to_a_clustered_local_server_leaves_no_node_no_port_mapper_and_no_files(cluster_scratch, tmp_path):
    process = start_with_lines(
        ["local-server", "--server", "ejabberd", "--nodes", "2", "--env-file", str(tmp_path / ".env")],
        {**os.environ, "TMPDIR": str(cluster_scratch), "PYTHONUNBUFFERED": "1"},
    )
    try:
        process.wait_for_line(lambda line: line.startswith("press Ctrl-C"), timeout=90)
        text = "\n".join(process.lines)
        nodes = re.findall(r"node (\d) \S+: client port 127\.0\.0\.1:(\d+) \((\w+)\)", text)
        assert [(number, role) for number, _port, role in nodes] == [("1", "sender"), ("2", "responder")], text
        ports = [int(port) for _number, port, _role in nodes]
        ports.append(int(re.search(r"port mapper \(epmd\) on 127\.0\.0\.1:(\d+)", text).group(1)))
        assert f"respond --as responder --env-file {tmp_path / '.env'} --port {ports[1]}" in text
        assert all(any_listener_on_port(port) for port in ports)
        assert processes_mentioning(str(cluster_scratch), settle=0) != []
    finally:
        process.process.kill()
        process.process.wait(10)
    assert processes_mentioning(str(cluster_scratch)) == []
    deadline = time.monotonic() + 15  # the reapers end their trees once they see the owner gone
    while any(any_listener_on_port(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [port for port in ports if any_listener_on_port(port)] == []
    assert list(cluster_scratch.iterdir()) == []


def test_load_across_a_two_node_cluster_loses_nothing(cluster_scratch):
    args = ["--local", "--server", "ejabberd", "--nodes", "2", "--pairs", "10", "--processes", "2", "--exchanges=400"]
    result = xmppext_in(cluster_scratch, "load", *args, "--json", "--fail-if", "lost>0")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    assert summary["sessions_up"] == summary["sessions_planned"] == 20
    assert (summary["ok"], summary["failed"], summary["lost"]) == (400, 0, 0)
    assert re.search(r"local ejabberd on 127\.0\.0\.1:\d+,\d+ ", result.stderr), result.stderr
    assert "(2 nodes)" in result.stderr
    assert list(cluster_scratch.iterdir()) == []  # both nodes and the port mapper gone with their dirs


PLUGIN_TEST = """
def test_the_fixture_is_a_cluster(xmpp_server, xmpp_account):
    first, second = xmpp_account(), xmpp_account()
    assert len(xmpp_server.nodes) == 2
    assert xmpp_server.home_of(first) is not xmpp_server.home_of(second)
    assert xmpp_server.settings_for(second).port == xmpp_server.ports[1]
    print("CLUSTER OK", flush=True)
"""


def test_the_plugins_server_fixture_with_two_nodes_is_a_cluster(cluster_scratch, tmp_path):
    (tmp_path / "test_cluster_fixture.py").write_text(PLUGIN_TEST)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("XMPPEXT_", "PYTEST_"))}
    pytest_run = [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    result = subprocess.run(
        [*pytest_run, "--xmpp-server", "ejabberd", "--xmpp-nodes", "2", "test_cluster_fixture.py"],
        env={**env, "TMPDIR": str(cluster_scratch)},
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CLUSTER OK" in result.stdout
    assert list(cluster_scratch.iterdir()) == []


def test_run_pair_across_a_two_node_cluster_puts_sender_and_responder_on_different_nodes(cluster_scratch):
    result = xmppext_in(cluster_scratch, "run-pair", "--local", "--server", "ejabberd", "--nodes", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    ports = re.search(r"sender on 127\.0\.0\.1:(\d+), responder on 127\.0\.0\.1:(\d+)", result.stdout)
    assert ports is not None and ports.group(1) != ports.group(2), result.stdout
    assert "[sender] sent 7: 7 ok, 0 failed, 0 lost" in result.stdout


def test_a_scenario_across_a_two_node_cluster_passes(cluster_scratch):
    script = Path(__file__).parents[2] / "scenarios" / "example_tag_exchanges.scs"
    result = xmppext_in(
        cluster_scratch, "scenario", "--local", "--server", "ejabberd", "--nodes", "2", "--json", str(script)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    (run,) = [record for record in records if record.get("type") == "script"]
    assert (run["status"], run["failed_steps"]) == ("passed", 0), result.stdout
    assert run["steps"] == sum(record.get("type") == "step" for record in records) > 20


def xmppext_in(scratch: Path, *args: str) -> subprocess.CompletedProcess:
    """``xmppext ARGS`` run to its end, its temp dirs in ``scratch``."""
    return subprocess.run(
        [*XMPPEXT, *args],
        env={**os.environ, "TMPDIR": str(scratch)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=150,
    )
