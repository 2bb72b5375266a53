"""Which node of a local cluster each load session logs in to (``xmppext load --local --nodes N``).

Pair ``k`` (numbered from 0 over the whole run) logs its sender in to node
``k mod N`` and its responder to node ``k+1 mod N``: every exchange crosses
the cluster, and the sessions are spread evenly over the nodes. Any account
can log in to any node (the cluster shares its accounts).
"""

from __future__ import annotations

from xmpp_ext.load.plan import LoadPlan


def port_for(plan: LoadPlan, pair: int, role: str) -> int | None:
    """The client port ``role`` (``sender`` or ``responder``) of pair number ``pair`` connects to."""
    if not plan.node_ports:
        return plan.port
    node = pair + (1 if role == "responder" else 0)
    return plan.node_ports[node % len(plan.node_ports)]
