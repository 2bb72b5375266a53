"""What a load run does, as the parent hands it to each worker process (JSON over the worker's stdin).

Passwords travel only this way: never on a command line, never in a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace

from xmpp_ext.load.exchange import Kind
from xmpp_ext.servers.base import Account
from xmpp_ext.util.secret import Secret

#: Logins one worker process has under way at once when no --ramp is given: enough to keep a server's
#: cores busy, few enough that none waits so long in the server's queue that it times out.
LOGIN_CONCURRENCY = 64


@dataclass(frozen=True)
class PairAccounts:
    """One pair's accounts (bare JID and password each)."""

    sender: Account
    responder: Account


@dataclass(frozen=True)
class LoadPlan:
    pairs: int
    kind: Kind = Kind.IQ
    window: int | None = 1  # closed loop: requests in flight per sender
    rate: float | None = None  # open loop: exchanges per second in total
    duration: float | None = 10.0  # seconds of exchanging (None: until `exchanges` are done)
    exchanges: int | None = None  # exchanges in total
    ramp: float | None = None  # logins per second in total (None: as fast as the server takes them)
    timeout: float = 10.0  # a request without a reply after this long is lost
    stream_management: bool = True
    host: str | None = None
    port: int | None = None
    node_ports: list[int] | None = None  # a local cluster: each node's client port (load/nodes.py)
    ca_cert: str | None = None
    insecure: bool = False
    direct_tls: bool = False
    login_timeout: float = 30.0
    resource: str = "load"
    sasl: str | None = None  # the one SASL mechanism every session uses (None: the strongest both sides offer)
    stall_at: float | None = None  # seconds into the exchanging when every responder stalls ...
    stall_for: float = 0.0  # ... for this long
    payload: str | None = None  # load --raw: the user's payload element, serialised, in each iq instead of the tag
    responder_plugin: str | None = None  # load --responder-plugin MODULE:CLASS: the plugin answers, not the engine
    epoch: float = 0.0  # the parent's time.time() at the start: seconds of every series count from it

    @property
    def open_loop(self) -> bool:
        return self.rate is not None


@dataclass(frozen=True)
class WorkerShare:
    """What one worker process runs: its number, its pairs (numbered from ``first``) and its part of the totals."""

    number: int
    first: int
    pairs: list[PairAccounts]
    rate: float | None  # its part of --rate
    ramp: float | None  # its part of --ramp
    exchanges: int | None  # its part of --exchanges


def split(plan: LoadPlan, accounts: list[PairAccounts], processes: int) -> list[WorkerShare]:
    """Pairs in contiguous blocks over ``processes`` workers, with their shares of the totals."""
    processes = max(1, min(processes, len(accounts)))
    shares = []
    start = 0
    for number in range(processes):
        size = len(accounts) // processes + (1 if number < len(accounts) % processes else 0)
        part = size / len(accounts)
        exchanges = None
        if plan.exchanges is not None:
            # Whole exchanges: the first workers take the remainder.
            exchanges = plan.exchanges // processes + (1 if number < plan.exchanges % processes else 0)
        shares.append(
            WorkerShare(
                number=number,
                first=start,
                pairs=accounts[start : start + size],
                rate=plan.rate * part if plan.rate is not None else None,
                ramp=plan.ramp * part if plan.ramp is not None else None,
                exchanges=exchanges,
            )
        )
        start += size
    return shares


def default_processes() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def encode(plan: LoadPlan, share: WorkerShare) -> str:
    """One JSON line for a worker's stdin (passwords included: stdin is private to the two processes)."""
    data = {"plan": asdict(plan), "share": asdict(share)}
    data["plan"]["kind"] = plan.kind.value
    data["share"]["pairs"] = [
        [pair.sender.jid, pair.sender.password.reveal(), pair.responder.jid, pair.responder.password.reveal()]
        for pair in share.pairs
    ]
    return json.dumps(data)


def decode(line: str) -> tuple[LoadPlan, WorkerShare]:
    data = json.loads(line)
    plan = LoadPlan(**data["plan"])
    plan = replace(plan, kind=Kind(plan.kind))
    share_data = data["share"]
    share_data["pairs"] = [
        PairAccounts(Account(sender, Secret(sender_password)), Account(responder, Secret(responder_password)))
        for sender, sender_password, responder, responder_password in share_data["pairs"]
    ]
    return plan, WorkerShare(**share_data)


def per_sender_counts(total: int, senders: int) -> list[int]:
    """``total`` exchanges over ``senders`` in whole numbers (the first ones take the remainder)."""
    return [total // senders + (1 if index < total % senders else 0) for index in range(senders)]
