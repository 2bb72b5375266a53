"""The Locust part of scripts/bench (``scripts/bench --locust``): the same load three ways, on one machine.

Writes the ``## Locust and a clustered ejabberd`` section of BENCHMARKS.md
(the other sections are kept). Every run: N pairs, each exchanging the
extension's iq round trip in closed loop (one request in flight per pair),
for the same number of seconds, against throwaway ejabberd on 127.0.0.1,
TLS verified:

(a) ``xmppext load`` (2 worker processes) against one ejabberd node;
(b) Locust, a master and 2 workers (separate processes, over loopback),
    one user per pair (xmpp_ext.locust), against the same node: what the
    gevent/asyncio bridge and Locust's machinery cost against (a);
(c) ``xmppext load --local --nodes 2`` against ``--local`` on one node:
    every exchange crossing the cluster against none, what the cluster costs;
(d) Locust as in (b) against a two-node cluster, the pairs split across it.

Generator CPU per exchange is measured while exchanging: ``xmppext load``'s
own figure (its processes), and for Locust its master's and workers' CPU
time read from /proc after a warm-up and a second before the end, over the
exchanges of that interval (the whole run, start-up included, is noted too). The machine is shared: the load average is
recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load import xmppext_load
from benchmarks.run import ROOT, machine, write_section
from xmpp_ext.servers import EjabberdServer, free_port
from xmpp_ext.servers.cluster import EjabberdCluster
from xmpp_ext.util.secret import Secret

HEADING = "## Locust and a clustered ejabberd (issue 23)"
PASSWORD = "locust-bench-password"  # throwaway accounts on throwaway loopback servers
#: Seconds after Locust's start before its CPU is sampled (its import, the workers joining, the logins).
WARM_UP = 4.0
LOCUSTFILE = "from xmpp_ext.locust import XmppPairUser\n\n\nclass Pair(XmppPairUser):\n    pass\n"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def processes_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the live processes ``pids`` have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(response_times: dict[str, int], fraction: float) -> float:
    """The smallest response time (ms) at or below which ``fraction`` of the requests ended."""
    total = sum(response_times.values())
    seen = 0
    for key, count in sorted(((float(key), count) for key, count in response_times.items())):
        seen += count
        if seen >= fraction * total:
            return key
    return 0.0


def locust_run(server, pairs: int, duration: float, directory: Path) -> dict:
    """A master and 2 workers on loopback, ``pairs`` users for ``duration`` s; the iq entry's figures."""
    (directory / "locustfile.py").write_text(LOCUSTFILE)
    env = {**os.environ, "XMPPEXT_PASSWORD": PASSWORD}
    port = free_port()
    ports = server.ports
    xmpp = ["--xmpp-accounts", "bench{n}@localhost", "--xmpp-host", server.host, "--xmpp-ca-cert", str(server.ca_cert)]
    xmpp += ["--xmpp-ports", ",".join(map(str, ports))]
    locust = [sys.executable, "-m", "locust", "-f", "locustfile.py", "-L", "WARNING"]
    run = ["--expect-workers", "2", "-u", str(pairs), "-r", str(pairs), "--run-time", f"{duration:g}s", "--json", *xmpp]
    cpu_before = children_cpu()
    master = subprocess.Popen(
        [*locust, "--headless", "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), *run],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    workers = [
        subprocess.Popen(
            [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
            cwd=directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    # CPU while exchanging only (Locust's start-up, ~1 s of CPU a process, left out): sampled from /proc.
    pids = [master.pid, *(worker.pid for worker in workers)]
    time.sleep(WARM_UP)
    first, first_cpu = time.monotonic(), processes_cpu(pids)
    time.sleep(max(1.0, duration - WARM_UP - 1.0))
    second, second_cpu = time.monotonic(), processes_cpu(pids)
    out, _ = master.communicate(timeout=duration + 120)
    for worker in workers:
        worker.wait(60)
    total_cpu = children_cpu() - cpu_before
    entries = {entry["name"]: entry for entry in json.loads(out)}
    iq = entries["iq"]
    ok = iq["num_requests"] - iq["num_failures"]
    seconds = max(1e-6, iq["last_request_timestamp"] - iq["start_time"])
    rate = iq["num_requests"] / seconds
    return {
        "ok": ok,
        "failed": iq["num_failures"],
        "rate": rate,
        "p50_ms": percentile(iq["response_times"], 0.50),
        "p99_ms": percentile(iq["response_times"], 0.99),
        "cpu_per_exchange_us": (second_cpu - first_cpu) / max(1.0, rate * (second - first)) * 1e6,
        "cpu_per_exchange_with_startup_us": total_cpu / max(1, ok) * 1e6,
        "exit": master.returncode,
    }


def report(args: argparse.Namespace) -> str:
    load_before = os.getloadavg()
    pairs, duration = args.pairs, args.duration
    common = ["--pairs", str(pairs), "--processes", "2", "--duration", f"{duration:g}", "--window", "1"]
    localparts = [f"bench{n}" for n in range(1, 2 * pairs + 1)]
    with tempfile.TemporaryDirectory(prefix="xmppext-locust-bench-") as scratch:
        node = EjabberdServer(for_load=True).start()
        try:
            node.add_accounts(localparts, Secret(PASSWORD))
            address = ["--host", node.host, "--port", str(node.port), "--ca-cert", str(node.ca_cert)]
            a = xmppext_load(
                args.xmppext, *common, "--accounts", "bench{n}@localhost", *address, env={"XMPPEXT_PASSWORD": PASSWORD}
            )
            b = locust_run(node, pairs, duration, Path(scratch))
        finally:
            node.stop()
        one_node = xmppext_load(args.xmppext, *common, "--local", "--server", "ejabberd")
        two_nodes = xmppext_load(args.xmppext, *common, "--local", "--server", "ejabberd", "--nodes", "2")
        cluster = EjabberdCluster(2, for_load=True).start()
        try:
            cluster.add_accounts(localparts, Secret(PASSWORD))
            d = locust_run(cluster, pairs, duration, Path(scratch))
        finally:
            cluster.stop()
    load_after = os.getloadavg()

    def row(name: str, rate: float, p50: float, p99: float, cpu: float | None, ok: int, failed: int) -> str:
        cpu_text = f"{cpu:,.0f}" if cpu is not None else "-"
        return f"| {name} | {rate:,.0f}/s | {p50:.2f} ms | {p99:.2f} ms | {cpu_text} | {ok:,} / {failed:,} |"

    def load_row(name: str, summary: dict) -> str:
        ex = summary["exchanges"]
        failed = summary["failed"] + summary["lost"]
        cpu = summary["generator_cpu_per_exchange_us"]
        return row(name, summary["exchanges_per_second"], ex["p50_ms"], ex["p99_ms"], cpu, summary["ok"], failed)

    bridge_rate = b["rate"] / a["exchanges_per_second"]
    cluster_rate = two_nodes["exchanges_per_second"] / one_node["exchanges_per_second"]
    lines = [
        HEADING,
        "",
        f"`scripts/bench --locust --pairs {pairs} --duration {duration:g}` (benchmarks/locust.py): {pairs} pairs, "
        f"each with one iq round trip in flight (closed loop), {duration:g} s, ejabberd on 127.0.0.1 with TLS. "
        f"Load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min; the runs' own "
        "processes raise it; anything above 2 before means other work shared the 2 cores). "
        "One run; read the ratios, not the last digit.",
        "",
        *machine(),
        "",
        "| run | exchanges | p50 | p99 | generator CPU µs/exchange | ok / failed+lost |",
        "|---|---|---|---|---|---|",
        load_row("(a) `xmppext load`, 2 processes, one node", a),
        row("(b) Locust master + 2 workers, one node", b["rate"], b["p50_ms"], b["p99_ms"], b["cpu_per_exchange_us"],
            b["ok"], b["failed"]),
        load_row("(c) `xmppext load --local`, one node", one_node),
        load_row("(c) `xmppext load --local --nodes 2`, every exchange across the cluster", two_nodes),
        row("(d) Locust master + 2 workers, two-node cluster, pairs split", d["rate"], d["p50_ms"], d["p99_ms"],
            d["cpu_per_exchange_us"], d["ok"], d["failed"]),
        "",
        f"- The bridge (b against a): Locust reaches {bridge_rate:.2f} times the rate of `xmppext load` with "
        f"{b['cpu_per_exchange_us'] / max(1e-9, a['generator_cpu_per_exchange_us']):.1f} times the generator CPU per "
        f"exchange; p99 {b['p99_ms']:.2f} ms against {a['exchanges']['p99_ms']:.2f} ms. Each Locust request "
        "goes from a user's greenlet to the asyncio loop and back (run_coroutine_threadsafe), and Locust "
        "keeps and ships its statistics, where `xmppext load` keeps a histogram per process. With Locust's "
        "start-up (its import, ~1 s of CPU per process) the whole run cost "
        f"{b['cpu_per_exchange_with_startup_us']:,.0f} µs per exchange.",
        f"- The cluster (c): across two nodes the rate is {cluster_rate:.2f} times one node's, p99 "
        f"{two_nodes['exchanges']['p99_ms']:.2f} ms against {one_node['exchanges']['p99_ms']:.2f} ms; the servers "
        f"spent {two_nodes['server_cpu_per_exchange_us'] or 0:,.0f} µs of CPU per exchange against "
        f"{one_node['server_cpu_per_exchange_us'] or 0:,.0f} µs (routing over Erlang distribution; both nodes share "
        "the same two cores here, so a cluster on one machine measures its cost, never its gain).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xmppext", default=str(ROOT / ".venv" / "bin" / "xmppext"), help="the command to measure")
    parser.add_argument("--pairs", type=int, default=20, help="pairs (Locust users) in every run")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of exchanging in each run")
    parser.add_argument("--output", type=Path, help="write the section into this file (BENCHMARKS.md)")
    args = parser.parse_args()
    section = report(args)
    print(section)
    if args.output:
        write_section(args.output, HEADING, section)


if __name__ == "__main__":
    main()
