"""Locust across processes (a master and two workers on loopback) against a two-node local ejabberd cluster.

The pairs are split across the nodes (``--xmpp-ports`` with both client
ports), so every exchange crosses the cluster. Checked: the master's totals
are exactly the sum of what each worker reported, with nothing failed or
lost; and a worker killed mid-run is reported by the master, which then
exits 1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xmpp_ext.pytest_plugin import SETTINGS_KEY
from xmpp_ext.servers.base import free_port
from xmpp_ext.util.secret import Secret

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

LOCUST = [sys.executable, "-m", "locust"]
LOCUSTFILE = "from xmpp_ext.locust import XmppPairUser\n\n\nclass Pair(XmppPairUser):\n    pass\n"
USERS = 6  # pairs: 3 per worker
WORKER_LINE = re.compile(r"^xmppext: worker (\d+) reported (\{.*\})$", re.MULTILINE)
FIRST_EXCHANGES = re.compile(r"^xmppext: worker \d+ \(\S+\) reported its first exchanges$", re.MULTILINE)


@pytest.fixture(scope="module")
def cluster(request) -> Iterator:
    if "ejabberd" not in request.config.stash[SETTINGS_KEY].kinds:
        pytest.skip("the suite's servers do not include ejabberd")
    if importlib.util.find_spec("locust") is None:  # never imported here: it patches the process
        if os.environ.get("CI") == "true":
            pytest.fail("Locust is not installed (the test extra brings it)")
        pytest.skip("the locust extra is not installed")
    from xmpp_ext.servers.cluster import EjabberdCluster

    started = EjabberdCluster(nodes=2, for_load=True)
    try:
        started.start()
        started.password = secrets.token_urlsafe(12)
        started.add_accounts([f"loc{n}" for n in range(1, 2 * USERS + 1)], Secret(started.password))
        yield started
    finally:
        started.stop()


class LocustRun:
    """A master and two workers, their output in files (no pipe to fill)."""

    def __init__(self, cluster, directory: Path, run_time: int) -> None:
        (directory / "locustfile.py").write_text(LOCUSTFILE)
        self.directory = directory
        env = {**os.environ, "XMPPEXT_PASSWORD": cluster.password, "PYTHONUNBUFFERED": "1"}
        port = free_port()
        xmpp = ["--xmpp-accounts", "loc{n}@localhost", "--xmpp-host", cluster.host]
        xmpp += ["--xmpp-ports", ",".join(map(str, cluster.ports)), "--xmpp-ca-cert", str(cluster.ca_cert)]
        self.master = self._start(
            "master",
            [
                *["--headless", "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
                *["--expect-workers", "2", "-u", str(USERS), "-r", str(USERS), "--run-time", f"{run_time}s"],
                *["--json", *xmpp],
            ],
            env,
        )
        self.workers = [
            self._start(f"worker{number}", ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)], env)
            for number in (1, 2)
        ]

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            [*LOCUST, "-f", "locustfile.py", *args],
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=open(self.directory / f"{name}.out", "w"),
            stderr=open(self.directory / f"{name}.err", "w"),
        )

    def output(self, name: str, stream: str = "err") -> str:
        return (self.directory / f"{name}.{stream}").read_text()

    def wait_for(self, name: str, *texts: str, timeout: float = 60) -> None:
        """Until ``name``'s output has one of ``texts``."""
        self._until(lambda output: any(text in output for text in texts), name, f"none of {texts}", timeout)

    def wait_for_lines(self, name: str, pattern: re.Pattern, count: int, timeout: float = 60) -> None:
        """Until ``name``'s output has ``count`` lines matching ``pattern``."""
        self._until(lambda output: len(pattern.findall(output)) >= count, name, f"not {count} lines", timeout)

    def _until(self, holds, name: str, otherwise: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not holds(self.output(name)):
            assert time.monotonic() < deadline, f"{otherwise} from {name} within {timeout}s:\n{self.output(name)}"
            time.sleep(0.1)  # the output is a file: nothing to await

    def wait_until_spawned(self) -> None:
        # Locust's master says "All users spawned", or, when a worker's report of its users came late (a busy
        # machine), "Spawning is complete ... but not all reports received": the users run either way.
        self.wait_for("master", "All users spawned", "Spawning is complete")

    def finish(self, timeout: float = 90) -> int:
        status = self.master.wait(timeout)
        for worker in self.workers:
            if worker.poll() is None:
                worker.wait(30)
        return status

    def kill_all(self) -> None:
        for process in (self.master, *self.workers):
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def master_totals(self) -> dict[str, dict[str, int]]:
        entries = json.loads(self.output("master", "out"))
        return {
            entry["name"]: {"ok": entry["num_requests"] - entry["num_failures"], "failed": entry["num_failures"]}
            for entry in entries
        }

    def worker_reports(self) -> dict[int, dict[str, dict[str, int]]]:
        reports = {}
        for name in ("worker1", "worker2"):
            for index, counts in WORKER_LINE.findall(self.output(name)):
                reports[int(index)] = json.loads(counts)
        return reports


@pytest.fixture
def locust_run(cluster, tmp_path) -> Iterator:
    runs: list[LocustRun] = []

    def start(run_time: int) -> LocustRun:
        runs.append(LocustRun(cluster, tmp_path, run_time))
        return runs[-1]

    yield start
    for run in runs:
        run.kill_all()


def sessions_on(node) -> int:
    """Client connections established to ``node``'s client port now (from /proc: the clients' side)."""
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == node.port:  # 01: ESTABLISHED
                count += 1
    return count


def test_the_masters_totals_are_the_sum_of_the_workers_with_pairs_split_across_nodes(cluster, locust_run):
    run = locust_run(run_time=5)
    run.wait_until_spawned()
    # Every pair logged in, half of the sessions on each node: 3 pairs per worker, sender and responder apart.
    deadline = time.monotonic() + 30
    while [sessions_on(node) for node in cluster.nodes] != [USERS, USERS]:
        assert time.monotonic() < deadline, [sessions_on(node) for node in cluster.nodes]
        time.sleep(0.2)
    assert run.finish() == 0, run.output("master")
    reports = run.worker_reports()
    assert sorted(reports) == [0, 1], run.output("worker1") + run.output("worker2")
    summed = {
        name: {key: sum(report.get(name, {}).get(key, 0) for report in reports.values()) for key in ("ok", "failed")}
        for name in ("iq", "login")
    }
    assert run.master_totals() == summed
    assert summed["login"] == {"ok": 2 * USERS, "failed": 0}
    assert summed["iq"]["ok"] > 0 and summed["iq"]["failed"] == 0  # nothing failed, nothing lost
    assert all(report["iq"]["ok"] > 0 for report in reports.values())
    # The master's end-of-run lines give the percentiles in microseconds.
    assert re.search(r"^xmppext: xmpp iq: [\d,]+ requests, 0 failed; p50 [\d,.]+ (µs|ms)", run.output("master"), re.M)


def test_a_worker_killed_mid_run_is_reported_by_the_master_which_exits_1(cluster, locust_run):
    # Long enough for a report of exchanges from each worker before the kill and for Locust to see the worker
    # missing after it (its workers report every 3 s, and a worker is missing after 3 s without a heartbeat).
    run = locust_run(run_time=20)
    run.wait_until_spawned()
    # Both workers' exchanges in the master's totals first (each reports every 3 s, from when it connected).
    run.wait_for_lines("master", FIRST_EXCHANGES, 2)
    killed = run.workers[0]
    killed.kill()
    killed.wait(10)
    assert run.finish() == 1, run.output("master")
    master = run.output("master")
    assert "failed to send heartbeat, setting state to missing" in master  # Locust's own line
    missing = r"^xmppext: worker \d \(\S+\) stopped reporting mid-run: what it did after its last report is missing"
    assert re.search(missing + " from the totals$", master, re.M), master
    survivor = run.worker_reports()
    assert len(survivor) == 1
    # What the killed worker reported before it died stays in the master's totals.
    assert run.master_totals()["iq"]["ok"] > next(iter(survivor.values()))["iq"]["ok"]
