"""--nodes (a local ejabberd cluster) refused where it cannot be: one line, exit 2, nothing started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

XMPPEXT = [sys.executable, "-m", "xmpp_ext"]
A_SCRIPT = str(Path(__file__).parents[3] / "scenarios" / "server_basics.scs")


def xmppext(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*XMPPEXT, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "args",
    [
        ["local-server", "--nodes", "2"],
        ["local-server", "--server", "prosody", "--nodes", "2"],
        ["load", "--local", "--server", "prosody", "--nodes", "2"],
        ["load", "--local", "--server", "all", "--nodes", "2"],
        ["run-pair", "--local", "--nodes", "2"],
        ["scenario", "--local", "--server", "all", "--nodes", "2", A_SCRIPT],
    ],
)
def test_nodes_need_ejabberd(tmp_path, args):
    result = xmppext(*args, *(["--env-file", str(tmp_path / ".env")] if args[0] == "local-server" else []))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --nodes 2: only ejabberd runs as a cluster; add --server ejabberd"
    )
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize("nodes", ["0", "9"])
def test_nodes_are_bounded(tmp_path, nodes):
    result = xmppext("local-server", "--server", "ejabberd", "--nodes", nodes, "--env-file", str(tmp_path / ".env"))
    assert result.returncode == 2
    assert "Invalid value for '--nodes'" in result.stderr and "1<=x<=8" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["load", "--accounts", "load{n}@example.net", "--nodes", "2"],
        ["load", "--nodes", "2"],  # no accounts at all: the --nodes line says more
        ["run-pair", "--nodes", "2"],
        ["scenario", "--nodes", "2", A_SCRIPT],
    ],
)
def test_nodes_are_for_local_runs(args):
    result = xmppext(*args)
    assert result.returncode == 2
    assert "--nodes chooses the local cluster --local starts; use it with --local" in result.stderr
