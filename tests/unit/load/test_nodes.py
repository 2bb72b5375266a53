"""Which node each load session logs in to (load/nodes.py): every pair crosses the cluster, evenly."""

from __future__ import annotations

from collections import Counter

from xmpp_ext.load.nodes import port_for
from xmpp_ext.load.plan import LoadPlan


def test_without_nodes_every_session_uses_the_plans_port():
    plan = LoadPlan(pairs=3, port=5222)
    assert {port_for(plan, pair, role) for pair in range(3) for role in ("sender", "responder")} == {5222}


def test_each_pairs_sender_and_responder_are_on_different_nodes_and_the_nodes_share_the_sessions():
    for node_ports in ([1001, 1002], [1001, 1002, 1003]):
        plan = LoadPlan(pairs=12, port=1001, node_ports=node_ports)
        used = Counter()
        for pair in range(12):
            sender, responder = port_for(plan, pair, "sender"), port_for(plan, pair, "responder")
            assert sender != responder
            used.update([sender, responder])
        assert set(used) == set(node_ports)
        assert len(set(used.values())) == 1  # as many sessions on each node
