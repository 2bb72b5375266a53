"""A throwaway ejabberd cluster on loopback: N nodes joined over Erlang distribution, one domain.

Facts this is built on, seen with Debian's ejabberd 23.01 (Erlang/OTP 25):

* Nodes on one machine and one address find each other's distribution port
  through a port mapper (epmd). The machine's epmd would listen on every
  interface and outlive us, so the cluster runs its own, ``epmd -port P
  -address 127.0.0.1`` in the foreground under a reaper like the nodes, and
  each node is told its port (servers/ejabberd.py, ``epmd_port``). epmd
  always adds the loopback addresses to its list: it listens on ::1 too.
* Every node runs as the same user, so they share that user's Erlang cookie.
* ``ejabberdctl join_cluster NODE1`` run against a node wipes that node's
  database and copies the cluster's: accounts are made on the first node
  (before or after the join) and every node knows them.
* A client logs in to any node; stanzas to a user on another node are routed
  over distribution. Each account has a home node (round robin in the order
  accounts are made), which ``settings_for`` and ``environment_for`` use, so
  two accounts made one after the other are on different nodes.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from xmpp_ext.servers.base import LOOPBACK, Account, LocalServer, ServerFailed, XmppServer, free_port
from xmpp_ext.servers.ejabberd import EjabberdServer
from xmpp_ext.servers.listeners import owned_and_foreign
from xmpp_ext.util.children import group_members
from xmpp_ext.util.secret import Secret

#: Seconds the nodes may take to agree that they form one cluster after the joins.
JOIN_TIMEOUT = 60.0
#: Most nodes a local cluster has (each is an Erlang VM of ~100 MiB).
MAX_NODES = 8
#: Longest wait for every node to know a new session, and how often to ask (ejabberdctl takes ~0.3 s a call).
ROUTABLE_TIMEOUT = 10.0
ROUTABLE_POLL = 0.05


def clustered(kind: str, nodes: int, **options: object) -> EjabberdCluster:
    """A local cluster of ``nodes`` servers of ``kind`` (not started); ValueError for a kind that has none."""
    if kind != EjabberdServer.kind:
        raise ValueError(f"{kind} does not run as a cluster here: --nodes needs ejabberd")
    return EjabberdCluster(nodes, **options)


class PrivateEpmd(LocalServer):
    """Erlang's port mapper for one cluster: on 127.0.0.1 and a free port, stopped with the cluster.

    It borrows a throwaway server's machinery (temp dir, reaper, listening check, fresh ports if ours
    were taken); it has no accounts.
    """

    kind = "epmd"
    program = "epmd"

    def _choose_ports(self) -> None:
        self.port = free_port(self.host)

    @property
    def listeners(self) -> set[tuple[str, int]]:
        return {(self.host, self.port)}

    def _command(self) -> list[str]:
        return [self.program, "-port", str(self.port), "-address", self.host]

    def _write_config(self) -> None:  # nothing to configure beyond the command line
        pass

    def _write_account(self, account: Account) -> None:
        raise ServerFailed("epmd has no accounts")

    def _delete_account(self, account: Account) -> None:
        raise ServerFailed("epmd has no accounts")


class EjabberdCluster(XmppServer):
    """``nodes`` ejabberd nodes serving one domain; accounts spread over them. ``stop()`` ends them all."""

    kind = "ejabberd"

    def __init__(self, nodes: int = 2, domain: str = "localhost", host: str = LOOPBACK, **options: object) -> None:
        """``options`` go to every node (``for_load``, ``stanza_size_limit``, ``rate_limit``)."""
        if not 1 <= nodes <= MAX_NODES:
            raise ValueError(f"a local cluster has 1 to {MAX_NODES} nodes, not {nodes}")
        self.domain = domain
        self.host = host
        self.epmd = PrivateEpmd(domain, host)
        self.nodes: list[EjabberdServer] = []
        self._homes: dict[str, int] = {}  # bare JID -> index of its home node
        try:
            for _ in range(nodes):
                self.nodes.append(EjabberdServer(domain, host, epmd_port=self.epmd.port, **options))
            # One CA for the whole cluster: a client trusts every node with the first node's CA file.
            first = self.nodes[0].certificates
            for node in self.nodes[1:]:
                for source, target in zip(_files(first), _files(node.certificates), strict=True):
                    shutil.copyfile(source, target)
        except BaseException:
            self.stop()
            raise

    # -- what callers use ----------------------------------------------------------

    @property
    def first(self) -> EjabberdServer:
        """The node the others join, where accounts are made."""
        return self.nodes[0]

    @property
    def port(self) -> int:
        return self.first.port

    @property
    def direct_tls_port(self) -> int:
        return self.first.direct_tls_port

    @property
    def ports(self) -> list[int]:
        """Each node's client port (STARTTLS), in node order."""
        return [node.port for node in self.nodes]

    @property
    def ca_cert(self) -> Path:
        return self.first.ca_cert

    @property
    def accounts(self) -> list[Account]:
        return self.first.accounts

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes) and self.epmd.running

    @property
    def process_groups(self) -> list[int]:
        """The process group of each node (its reaper's), then the epmd's: a cluster has no single one."""
        return [group for group in (*(node.process_group for node in self.nodes), self.epmd.process_group) if group]

    @property
    def listeners(self) -> set[tuple[str, int]]:
        return set().union(self.epmd.listeners, *(node.listeners for node in self.nodes))

    @property
    def log_path(self) -> Path:
        return self.first.log_path

    @property
    def workdirs(self) -> list[Path]:
        """Each node's dir, then the port mapper's."""
        return [*(node.workdir for node in self.nodes), self.epmd.workdir]

    def home_of(self, account: Account) -> EjabberdServer:
        """The node ``account`` logs in to (the first node for an account made elsewhere)."""
        return self.nodes[self._homes.get(account.jid, 0)]

    def add_account(self, localpart: str | None = None, password: str | Secret | None = None) -> Account:
        return self._housed([self.first.add_account(localpart, password)])[0]

    def add_accounts(self, localparts: Sequence[str], password: Secret) -> list[Account]:
        return self._housed(self.first.add_accounts(localparts, password))

    def remove_account(self, account: Account) -> None:
        self.first.remove_account(account)
        self._homes.pop(account.jid, None)

    def wait_until_routable(self, full_jid: str, timeout: float = ROUTABLE_TIMEOUT) -> None:
        """Return once every node knows the session ``full_jid`` (ServerFailed after ``timeout`` seconds).

        ejabberd registers a session on its own node at once and on the others a moment later (its session
        table is written without a transaction), so a stanza sent from another node within that moment gets
        ``service-unavailable`` ("User session not found"). A script whose next step sends to a client that
        has just logged in waits here first.
        """
        deadline = time.monotonic() + timeout
        home = self._homes.get(full_jid.split("/", 1)[0], 0)
        for node in (node for number, node in enumerate(self.nodes) if number != home):
            while full_jid not in node.control("connected_users").split():
                if time.monotonic() >= deadline:
                    raise ServerFailed(f"{node.node} did not learn of the session {full_jid} within {timeout:g}s")
                time.sleep(ROUTABLE_POLL)

    def settings_for(self, account: Account, resource: str | None = None, **overrides: object):
        return super().settings_for(account, resource, **{"port": self.home_of(account).port, **overrides})

    def environment_for(self, account: Account, base: dict[str, str] | None = None) -> dict[str, str]:
        return self.home_of(account).environment_for(account, base)

    def start(self) -> EjabberdCluster:
        """Start the port mapper and every node, join them into one cluster, and wait until they agree."""
        if self.running:
            return self
        self.epmd.start()
        for node in self.nodes:
            node.epmd_port = self.epmd.port
            node.start()
        for node in self.nodes[1:]:
            node.control("join_cluster", self.first.node)
        self._wait_until_joined()
        return self

    def stop(self) -> None:
        """Stop every node, then the port mapper, and remove their dirs. Safe to call more than once."""
        for node in reversed(self.nodes):
            node.stop()
        self.epmd.stop()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"[{node.node}]\n{node.log_tail(lines // len(self.nodes))}" for node in self.nodes)

    def __enter__(self) -> EjabberdCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EjabberdCluster {self.domain} on {self.host}:{','.join(map(str, self.ports))}>"

    # -- internals -----------------------------------------------------------------

    def _housed(self, accounts: list[Account]) -> list[Account]:
        for account in accounts:
            self._homes[account.jid] = len(self._homes) % len(self.nodes)
        return accounts

    def _wait_until_joined(self) -> None:
        """Return once the first node lists every node as running, and every node listens again.

        Joining restarts ejabberd on the joining node: its client port closes and opens again.
        """
        deadline = time.monotonic() + JOIN_TIMEOUT
        wanted = {node.node for node in self.nodes}
        while True:
            with contextlib.suppress(ServerFailed):
                running = set(self.first.control("list_cluster", timeout=JOIN_TIMEOUT).split())
                if wanted <= running and all(_listening(node) for node in self.nodes):
                    return
            if time.monotonic() > deadline:
                raise ServerFailed(f"the ejabberd nodes did not form one cluster within {JOIN_TIMEOUT:g}s")
            time.sleep(0.2)  # nothing to await: the nodes' agreement is only seen by asking


def _listening(server: LocalServer) -> bool:
    """Whether the server's own processes listen on every one of its addresses now."""
    if server.process_group is None:
        return False
    owned, _foreign = owned_and_foreign(server.listeners, group_members(server.process_group))
    return owned == server.listeners


def _files(certificates) -> tuple[Path, Path, Path]:
    return certificates.ca_cert, certificates.cert, certificates.key
