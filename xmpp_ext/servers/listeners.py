"""Who listens on which TCP port, read from /proc (Linux).

"Something accepts connections on the port" is not enough to know a server
started: under pytest-xdist another worker may have been given the same free
port a moment earlier, and our clients would then reach its server. So the
start-up wait asks whether the listening socket belongs to our own processes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TCP_LISTEN = "0A"  # the state column of /proc/net/tcp
# Listeners on every address also hold the port on loopback (IPv6's "::" as /proc writes it).
WILDCARDS = ("0.0.0.0", "0" * 32)


def listening_sockets() -> dict[tuple[str, int], set[str]]:
    """Every listening TCP (address, port) of this network namespace, with its socket inodes.

    IPv4 addresses are dotted quads; IPv6 ones stay in /proc's hex notation.
    """
    listening: dict[tuple[str, int], set[str]] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != TCP_LISTEN:
                continue
            address_hex, port_hex = local.split(":")
            if table == "tcp":  # little-endian bytes
                address = ".".join(str(int(address_hex[i : i + 2], 16)) for i in range(6, -1, -2))
            else:
                address = address_hex
            listening.setdefault((address, int(port_hex, 16)), set()).add(inode)
    return listening


def socket_inodes(pids: list[int]) -> set[str]:
    """The inodes of every socket the processes ``pids`` hold open."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):  # a process may exit while we look
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(fd.path)
                    if target.startswith("socket:["):
                        inodes.add(target[len("socket:[") : -1])
    return inodes


def owned_and_foreign(
    wanted: set[tuple[str, int]], pids: list[int]
) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """Of the ``wanted`` listeners: those ``pids`` listen on, and those another process holds."""
    listening = listening_sockets()
    ours = socket_inodes(pids)
    owned, foreign = set(), set()
    for address in wanted:
        inodes = set(listening.get(address, ()))
        for wildcard in WILDCARDS:
            inodes |= listening.get((wildcard, address[1]), set())
        if inodes & ours:
            owned.add(address)
        elif inodes:
            foreign.add(address)
    return owned, foreign
