"""The benchmark behind scripts/bench: xmppext against plain slixmpp and go-sendxmpp, one run, one server.

Prints a Markdown report (machine, then one table); ``--output FILE`` also
writes it there (BENCHMARKS.md). Everything runs against a throwaway local
Prosody on 127.0.0.1 started here, so both sides of every comparison meet
the same server in the same minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import slixmpp

from benchmarks.plain_pair import run_plain_pair
from xmpp_ext.faultproxy import FaultPlan, ProxyThread
from xmpp_ext.servers import Account, LocalServer, start_server

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def client_env(server: LocalServer, account: Account) -> dict[str, str]:
    return server.environment_for(account)


def read_peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def xmppext_pair(
    xmppext: str,
    server: LocalServer,
    count: int,
    window: int,
    sender_port: int | None = None,
    extra: tuple[str, ...] = (),
    responder_port: int | None = None,
) -> dict[str, object]:
    """A responder and a sender burst as two processes; the sender's summary plus both peak memories.

    ``sender_port``/``responder_port``: that client connects there (a fault proxy in front of the server)
    instead; ``extra``: options for both commands (e.g. --no-stream-management).
    """
    sender, responder = server.add_account(), server.add_account()
    sender_env = client_env(server, sender)
    if sender_port is not None:
        sender_env["XMPPEXT_PORT"] = str(sender_port)
    responder_env = client_env(server, responder)
    if responder_port is not None:
        responder_env["XMPPEXT_PORT"] = str(responder_port)
    answering = subprocess.Popen(
        [xmppext, "respond", "-q", *extra], env=responder_env, stdout=subprocess.PIPE, text=True
    )
    try:
        ready = answering.stdout.readline()
        if not ready.startswith("READY "):
            raise RuntimeError(f"responder not ready: {ready!r}")
        full_jid = ready.split()[1]
        args = ["send", "-t", full_jid, "--kind", "iq", "--some-string", "StringFromFile"]
        args += ["--repeat", str(count), "--window", str(window), "--timeout", "30", "--json", "-q", *extra]
        with tempfile.NamedTemporaryFile("r") as peak:
            measured = [sys.executable, "-m", "benchmarks.peak_rss", peak.name, xmppext, *args]
            output = subprocess.run(measured, env=sender_env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
            sender_peak_kib = int(peak.read())
        summary = json.loads(output.stdout.strip().splitlines()[-1])["summary"]
        summary["sender_peak_mib"] = sender_peak_kib / 1024
        # VmHWM belongs to the memory map exec created: the responder's own peak.
        summary["responder_peak_mib"] = read_peak_rss_kib(answering.pid) / 1024
        summary["exit"] = output.returncode
        return summary
    finally:
        answering.terminate()
        answering.wait(10)


def one_shot_times(xmppext: str, server: LocalServer, runs: int) -> tuple[list[float], list[float]]:
    """Wall times of sending one message: xmppext (--no-reply) and go-sendxmpp, interleaved."""
    sender, recipient = server.add_account(), server.add_account()
    env = client_env(server, sender)
    with tempfile.TemporaryDirectory() as scratch:
        # go-sendxmpp reads its password from a file, never from its command line.
        config = Path(scratch) / "sendxmpprc"
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(
                f"username: {sender.jid}\npassword: {sender.password.reveal()}\njserver: {server.host}:{server.port}\n"
            )
        go_env = dict(os.environ, SSL_CERT_FILE=str(server.ca_cert))
        ours, theirs = [], []
        commands = (
            (ours, [xmppext, "send", "-t", recipient.jid, "--kind", "message", "--no-reply", "-q"], env, None),
            (theirs, ["go-sendxmpp", "-f", str(config), recipient.jid], go_env, "one message\n"),
        )
        for _ in range(runs):
            for times, command, command_env, stdin in commands:
                times.append(wall_time(command, command_env, stdin))
    return ours, theirs


def startup_times(xmppext: str, runs: int) -> list[float]:
    """Wall times of ``xmppext send --help``: Python, importing xmppext and slixmpp, no network. The floor of (c)."""
    return [wall_time([xmppext, "send", "--help"]) for _ in range(runs)]


def wall_time(command: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> float:
    """Seconds from starting ``command`` to its successful end, its output captured."""
    started = time.monotonic()
    subprocess.run(command, env=env, input=stdin, text=True, check=True, capture_output=True)
    return time.monotonic() - started


def targets(rate_ratio: float, lost: int, one_shot_ratio: float, small_mib: float, large_mib: float) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    flat = large_mib <= small_mib * 1.2
    return [
        "Targets (issue 7):",
        "",
        f"- (a) ratio >= 2.0 with 0 lost: {verdict(rate_ratio >= 2.0 and lost == 0)} ({rate_ratio:.2f}x, {lost} lost)",
        f"- (c) ratio <= 1.5: {verdict(one_shot_ratio <= 1.5)} ({one_shot_ratio:.2f}x)",
        f"- (d) memory flat in N: {verdict(flat)} (sender {small_mib:.1f} MiB at N/10, {large_mib:.1f} MiB at N)",
    ]


def machine() -> list[str]:
    def first_line(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_gib = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    prosody = first_line(["dpkg-query", "-W", "-f=${Version}", "prosody"])
    go_sendxmpp = first_line(["dpkg-query", "-W", "-f=${Version}", "go-sendxmpp"])
    return [
        f"- CPU: {model}, {os.cpu_count()} cores; memory {memory_gib:.0f} GiB",
        f"- OS: {platform.platform()}; Python {platform.python_version()}; slixmpp {slixmpp.__version__}",
        f"- Prosody {prosody} (Debian), go-sendxmpp {go_sendxmpp} (Debian); all on 127.0.0.1, TLS verified",
    ]


def wait_for_idle(server: LocalServer, quiet: float = 0.3, limit: float = 20.0) -> None:
    """Return once the server process has used no CPU for ``quiet`` seconds (at most ``limit`` seconds)."""
    stat = Path(f"/proc/{server.pid}/stat")

    def cpu_ticks() -> int:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    deadline = time.monotonic() + limit
    previous = cpu_ticks()
    while time.monotonic() < deadline:
        time.sleep(quiet)  # nothing to await: the server's own bookkeeping is only visible in /proc
        current = cpu_ticks()
        if current == previous:
            return
        previous = current


def one_shot_report(args: argparse.Namespace) -> str:
    """Only measure (c) and (c'): a quick loop for work on start-up time."""
    server = start_server(accounts=0)
    try:
        ours, theirs = one_shot_times(args.xmppext, server, args.runs)
    finally:
        server.stop()
    startup = startup_times(args.xmppext, args.runs)
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    return (
        f"(c) one tagged message, median of {args.runs}: xmppext {ours_median * 1000:.0f} ms, "
        f"go-sendxmpp {theirs_median * 1000:.0f} ms, ratio {ours_median / theirs_median:.2f}x; "
        f"(c') start-up {statistics.median(startup) * 1000:.0f} ms"
    )


def report(args: argparse.Namespace) -> str:
    server = start_server(accounts=0)
    try:
        plain_sender, plain_responder = server.add_account(), server.add_account()

        def measure(run: Callable[[], T]) -> T:
            # Each measure starts on an idle server: one still digesting the previous
            # burst (Prosody collects its garbage after it) would slow whichever tool
            # happens to come next, by an amount unrelated to that tool.
            wait_for_idle(server)
            return run()

        ours, theirs = measure(lambda: one_shot_times(args.xmppext, server, args.runs))
        pipelined = measure(lambda: xmppext_pair(args.xmppext, server, args.count, args.window))
        plain_pipelined = measure(
            lambda: asyncio.run(
                run_plain_pair(server, plain_sender, plain_responder, args.count, args.window, stream_management=True)
            )
        )
        sequential = measure(lambda: xmppext_pair(args.xmppext, server, args.sequential, 1))
        plain_sequential = measure(
            lambda: asyncio.run(
                run_plain_pair(server, plain_sender, plain_responder, args.sequential, 1, stream_management=True)
            )
        )
        small = measure(lambda: xmppext_pair(args.xmppext, server, args.count // 10, args.window))

        def faulted_pair() -> dict[str, object]:
            plan = FaultPlan(cut_every_seconds=args.cut_every)
            with ProxyThread((server.host, server.port), plan) as proxy:
                summary = xmppext_pair(args.xmppext, server, args.count, args.window, sender_port=proxy.port)
                summary["cuts"] = proxy.counters.cuts
            return summary

        faulted = measure(faulted_pair)
        without_sm = measure(
            lambda: xmppext_pair(args.xmppext, server, args.count, args.window, extra=("--no-stream-management",))
        )
        plain_without_sm = measure(
            lambda: asyncio.run(run_plain_pair(server, plain_sender, plain_responder, args.count, args.window))
        )
    finally:
        server.stop()
    startup = startup_times(args.xmppext, args.runs)

    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    rate_ratio = pipelined["per_second"] / plain_pipelined["per_second"]
    lines = [
        f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        *machine(),
        "",
        "| measure | xmppext | baseline | ratio |",
        "|---|---|---|---|",
        f"| (a) pipelined iq round trips/s, window {args.window}, N={args.count:,}, stream management on "
        "(baseline: plain slixmpp pair with xep_0198) "
        f"| {pipelined['per_second']:,.0f} ({pipelined['lost']} lost, {pipelined['failed']} failed) "
        f"| {plain_pipelined['per_second']:,.0f} ({plain_pipelined['lost']} lost) | {rate_ratio:.2f}x |",
        f"| (b) sequential round trip p50 / p99, N={args.sequential:,}, stream management on "
        "(baseline: plain slixmpp pair with xep_0198) "
        f"| {sequential['p50_ms']:.2f} / {sequential['p99_ms']:.2f} ms "
        f"| {plain_sequential['p50_ms']:.2f} / {plain_sequential['p99_ms']:.2f} ms "
        f"| {sequential['per_second'] / plain_sequential['per_second']:.2f}x rate |",
        f"| (c) one tagged message, wall time, median of {args.runs} (baseline: go-sendxmpp) "
        f"| {ours_median * 1000:.0f} ms | {theirs_median * 1000:.0f} ms | {ours_median / theirs_median:.2f}x |",
        f"| (c') of which start-up: `xmppext send --help` (Python, imports, no network), median of {args.runs} "
        f"| {statistics.median(startup) * 1000:.0f} ms | | |",
        f"| (d) peak memory sender / responder, N={args.count // 10:,} "
        f"| {small['sender_peak_mib']:.1f} / {small['responder_peak_mib']:.1f} MiB | | |",
        f"| (d) peak memory sender / responder, N={args.count:,} "
        f"| {pipelined['sender_peak_mib']:.1f} / {pipelined['responder_peak_mib']:.1f} MiB | | |",
        f"| (e) (a) with the sender's connection cut every {args.cut_every:g} s (fault proxy; baseline: (a)) "
        f"| {faulted['per_second']:,.0f} ({faulted['lost']} lost, {faulted['failed']} failed, "
        f"{faulted['unsent']} unsent; {faulted['cuts']} cuts, {faulted['resumed']} resumed, "
        f"{faulted['resent']} re-sent, {faulted['duplicates']} duplicates; exit {faulted['exit']}) "
        f"| {pipelined['per_second']:,.0f} ({pipelined['lost']} lost) "
        f"| {faulted['per_second'] / pipelined['per_second']:.2f}x |",
        f"| (f) (a) without stream management on either side (`--no-stream-management`; baseline: plain slixmpp "
        "pair without xep_0198) "
        f"| {without_sm['per_second']:,.0f} ({without_sm['lost']} lost, {without_sm['failed']} failed) "
        f"| {plain_without_sm['per_second']:,.0f} ({plain_without_sm['lost']} lost) "
        f"| {without_sm['per_second'] / plain_without_sm['per_second']:.2f}x |",
        "",
        "xmppext pair: `xmppext respond -q` and `xmppext send --repeat N --window W --json -q` as two processes; "
        "plain pair: both clients in one process (benchmarks/plain_pair.py). Payload "
        '`<example_tag some_string="StringFromFile"/>` both ways. (c) ratio is xmppext / go-sendxmpp: lower is better.'
        " (c') shows how much of (c) is Python starting and importing slixmpp, before any byte is sent."
        " Measured (c) first, then (a), (b) and the N/10 run of (d) (the N run of (d) is (a)'s), each once the"
        " server process is idle again; (c) interleaves the two tools run by run. (e) runs last: the sender"
        " connects through `xmpp_ext.faultproxy` (stream management on, the default), which cuts its TCP"
        " connection every few seconds; the sender reconnects, resumes and goes on. (a) and (f) compare like with"
        " like: both pairs with stream management (acks both ways, the server keeping every stanza until"
        " acknowledged), then both without; (a) against (f) is what stream management costs. (b) compares"
        " both pairs with stream management too.",
        "",
        *targets(
            rate_ratio,
            int(pipelined["lost"]) + int(pipelined["failed"]),
            ours_median / theirs_median,
            small["sender_peak_mib"],
            pipelined["sender_peak_mib"],
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xmppext", default=str(ROOT / ".venv" / "bin" / "xmppext"), help="the command to measure")
    parser.add_argument("--count", type=int, default=100_000, help="iqs in the pipelined runs")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--sequential", type=int, default=3_000, help="iqs in the sequential runs")
    parser.add_argument("--runs", type=int, default=21, help="one-shot runs of each tool")
    parser.add_argument("--cut-every", type=float, default=2.0, help="seconds between cuts in the faulted run (e)")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument("--one-shot-only", action="store_true", help="measure (c) and (c') only; writes no file")
    parser.add_argument("--soak", action="store_true", help="run the cut soak only (benchmarks/soak.py)")
    parser.add_argument("--soak-runs", type=int, default=5, help="soak runs per server, side and kind of cut")
    parser.add_argument("--soak-count", type=int, default=20_000, help="iqs in each soak run")
    parser.add_argument("--soak-cut-seconds", type=float, default=0.7, help="seconds between cuts in the soak")
    parser.add_argument("--soak-cut-bytes", type=int, default=64 * 1024, help="bytes between cuts in the soak")
    args = parser.parse_args()
    if args.one_shot_only:
        print(one_shot_report(args))
        sys.exit(0)
    if args.soak:
        from benchmarks.soak import soak

        text = "\n".join(soak(args))
        section = SOAK_HEADING
    else:
        text = report(args)
        section = RUN_HEADING
    print(text)
    if args.output:
        write_section(args.output, section, text)
    sys.exit(0)


RUN_HEADING = "## Run of "
SOAK_HEADING = "## Soak of "


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace the section starting with ``heading`` in ``path`` (the run or the soak), keeping the other."""
    from benchmarks.load import HEADING as LOAD_HEADING  # scripts/bench --load writes that one
    from benchmarks.locust import HEADING as LOCUST_HEADING  # scripts/bench --locust writes that one

    sections = {RUN_HEADING: "", SOAK_HEADING: "", LOAD_HEADING: "", LOCUST_HEADING: ""}
    if path.exists():
        current = None
        for line in path.read_text().splitlines(keepends=True):
            for start in sections:
                if line.startswith(start):
                    current = start
            if current is not None:
                sections[current] += line
    sections[heading] = text.rstrip("\n") + "\n\n"
    path.write_text(
        "# Benchmarks\n\nMeasured by `scripts/bench` (benchmarks/run.py; `--soak`: benchmarks/soak.py); numbers from "
        "one run on the machine named, nothing edited by hand.\n\n"
        + sections[RUN_HEADING]
        + sections[SOAK_HEADING]
        + sections[LOAD_HEADING]
        + sections[LOCUST_HEADING]
    )


if __name__ == "__main__":
    main()
