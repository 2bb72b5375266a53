"""The load part of scripts/bench (``scripts/bench --load``): `xmppext load` at scale, and Tsung beside it.

Writes the ``## Load`` section of BENCHMARKS.md (the rest of the file is
benchmarks/run.py's and is kept). Every run is against throwaway local
servers on 127.0.0.1, TLS verified:

(L1) 10,000 sessions (5,000 pairs), every pair exchanging (open loop, each
     pair every 2 s on average), on Prosody and on ejabberd: latency, rates,
     generator memory and CPU, server CPU;
(L2) logins per second against each server's ceiling (1 / its CPU per login,
     times the cores it can use), from (L1)'s login phase;
(L3) 1,000 pairs in closed loop (several windows and process counts) against the
     single-pair pipelined burst before and after, on each server, the same
     minutes, each run against a freshly started server;
(L4) Tsung 1.7.0 and xmppext against the same server with the same sessions
     and the same exchange (half the sessions ping the server every 2 s, the
     other half stay idle): generator memory per session, CPU per exchange
     and per login, rates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import tsung
from benchmarks.run import ROOT, machine, wait_for_idle, xmppext_pair
from xmpp_ext.servers import SERVERS, LocalServer
from xmpp_ext.util.children import group_cpu_seconds
from xmpp_ext.util.secret import Secret

HEADING = "## Load: `xmppext load` (issue 22)"
PASSWORD = "load-bench-password"  # throwaway accounts on a throwaway loopback server


def xmppext_load(xmppext: str, *args: str, env: dict[str, str] | None = None, limit: float = 3600) -> dict:
    """One ``xmppext load ... --json`` run: its summary, with the exit status and the wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [xmppext, "load", *args, "--json"],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=limit,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines or "summary" not in lines[-1]:
        raise RuntimeError(f"xmppext load {' '.join(args)} gave no summary (exit {done.returncode}): {done.stderr}")
    summary = json.loads(lines[-1])["summary"]
    summary["exit"] = done.returncode
    summary["wall_s"] = time.monotonic() - started
    summary["stderr"] = done.stderr
    return summary


def users_server_options(server: LocalServer, prefix: str) -> list[str]:
    return [
        "--accounts",
        f"{prefix}{{n}}@{server.domain}",
        "--host",
        server.host,
        "--port",
        str(server.port),
        "--ca-cert",
        str(server.ca_cert),
    ]


def at_scale(xmppext: str, kind: str, pairs: int, duration: float) -> dict:
    """(L1): ``pairs`` pairs on a local server of ``kind``, each exchanging every 2 s on average."""
    return xmppext_load(
        xmppext,
        "--local",
        "--server",
        kind,
        "--pairs",
        str(pairs),
        "--rate",
        f"{pairs / 2:g}",
        "--duration",
        f"{duration:g}",
        "--timeout",
        "30",
        "--login-timeout",
        "120",
    )


def many_pairs_against_one(
    xmppext: str, kind: str, pairs: int, count: int, window: int, runs: list[tuple[int, int]], duration: float
) -> tuple[list[dict], dict[tuple[int, int], dict]]:
    """(L3): the single-pair pipelined burst, then ``pairs`` pairs in closed loop with each of ``runs`` (requests
    in flight per sender, worker processes), then the burst again; one run after the other, each against a
    server of ``kind`` started for it.

    A fresh server each time: one that has just served 2,000 sessions is not the one a burst met before (a
    burst after the spread runs on the same Prosody once cost it 222 µs of CPU per exchange against 129 µs
    before). The burst is measured before and after because on a shared machine it varies by ±15% from
    one minute to the next; the spread runs are compared with the mean of the two.
    Each summary gets ``cpu``: the CPU seconds the server and the generator (the child processes: xmppext
    send and respond, or load's coordinator and workers) used during that run, to tell what limited it.
    """
    many: dict[tuple[int, int], dict] = {}
    bursts = [_burst(xmppext, kind, count, window)]
    for each in runs:
        in_flight, processes = each
        accounts = [f"many{n}" for n in range(1, 2 * pairs + 1)]
        with _fresh_server(kind, accounts) as server, cpu_used(server) as many_cpu:
            many[each] = xmppext_load(
                xmppext,
                *users_server_options(server, "many"),
                *("--pairs", str(pairs), "--window", str(in_flight), "--processes", str(processes)),
                *("--timeout", "60", "--duration", f"{duration:g}"),
                env={"XMPPEXT_PASSWORD": PASSWORD},
            )
        many[each]["cpu"] = many_cpu
    bursts.append(_burst(xmppext, kind, count, window))
    return bursts, many


@contextlib.contextmanager
def _fresh_server(kind: str, localparts: list[str]):
    """A server of ``kind`` tuned for load, with ``localparts`` as accounts (password PASSWORD), idle; then stopped."""
    server = SERVERS[kind](for_load=True)
    try:
        server.start()
        if localparts:
            server.add_accounts(localparts, Secret(PASSWORD))
        wait_for_idle(server)
        yield server
    finally:
        server.stop()


def _burst(xmppext: str, kind: str, count: int, window: int) -> dict:
    """One single-pair pipelined burst (xmppext send + respond) on a fresh server, with the CPU both sides used."""
    with _fresh_server(kind, []) as server, cpu_used(server) as cpu:
        single = xmppext_pair(xmppext, server, count, window)
    single["cpu"] = cpu
    single["wall_s"] = single["sent"] / single["per_second"] if single.get("per_second") else None
    return single


def burst_rate(bursts: list[dict]) -> float:
    """What the spread runs are compared with: the mean rate of the bursts measured around them."""
    return sum(single["per_second"] for single in bursts) / len(bursts)


@contextlib.contextmanager
def cpu_used(server: LocalServer):
    """Fills the dict it yields with the server's and the (waited-for) child processes' CPU seconds over the block."""
    used: dict[str, float] = {}
    server_before, children_before = group_cpu_seconds(server.process_group), _children_cpu()
    yield used
    used["server_s"] = group_cpu_seconds(server.process_group) - server_before
    used["generator_s"] = _children_cpu() - children_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: (L4)'s xmppext runs: the default SASL mechanism, and Tsung's only one (the same work on both sides).
L4_MECHANISMS = ("SCRAM-SHA-1", "PLAIN")


def beside_tsung(
    xmppext: str, sessions: int, ramp: float, duration: float
) -> tuple[dict[str, dict], tsung.TsungRun]:
    """(L4): the same Prosody, the same accounts, the same exchange: xmppext load (with each of
    ``L4_MECHANISMS``), then Tsung."""
    pairs = sessions // 2
    ours: dict[str, dict] = {}
    with _fresh_server("prosody", [f"side{n}" for n in range(1, sessions + 1)]) as server:
        for mechanism in L4_MECHANISMS:
            wait_for_idle(server)
            ours[mechanism] = xmppext_load(
                xmppext,
                *users_server_options(server, "side"),
                *("--pairs", str(pairs), "--kind", "ping", "--rate", f"{pairs / 2:g}"),  # each pinger every 2 s
                *("--ramp", f"{ramp:g}", "--duration", f"{duration:g}", "--login-timeout", "120"),
                "--no-stream-management",  # Tsung has none: the same stanzas on the wire
                *("--processes", "1"),  # 100 logins and 1,000 pings a second take a third of a core; Tsung: one VM
                *("--sasl", mechanism),
                env={"XMPPEXT_PASSWORD": PASSWORD},
            )
        wait_for_idle(server)
        theirs = tsung.run(server, server.accounts, ramp=ramp, exchanging=duration, interval=2.0)
    return ours, theirs


def _run_spec(text: str) -> tuple[int, int]:
    window, _, processes = text.partition(":")
    return int(window), int(processes or "2")


def _run_name(run: tuple[int, int]) -> str:
    window, processes = run
    return f"window {window} each, {processes} process{'es' if processes > 1 else ''}"


def _ms(value: float | None) -> str:
    return f"{value:,.2f} ms" if value is not None else "-"


def _n(value: float | None, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if value is not None else "-"


def _cpu(summary: dict, exchanges: int, wall_s: float | None) -> str:
    """'server per exchange / busy | generator per exchange / busy' of one (L3) run."""
    cells = []
    for side in ("server_s", "generator_s"):
        seconds = summary["cpu"][side]
        per = f"{seconds / exchanges * 1e6:,.0f} µs" if exchanges else "-"
        busy = f"{seconds / wall_s * 100:.0f}%" if wall_s else "-"
        cells.append(f"{per} / {busy}")
    return " | ".join(cells)


def _load_average() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3]) + " (1 / 5 / 15 min)"


def _versions() -> str:
    def version(package: str) -> str:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
        return done.stdout.strip() or "not installed"

    return f"- ejabberd {version('ejabberd')}, Tsung {version('tsung')} (Debian)"


def report(args: argparse.Namespace) -> str:
    xmppext = args.xmppext
    scale = {kind: at_scale(xmppext, kind, args.pairs, args.duration) for kind in args.servers}
    spread = {
        kind: many_pairs_against_one(
            xmppext, kind, args.many_pairs, args.burst, 64, args.many_runs, args.many_duration
        )
        for kind in args.servers
    }
    measure_tsung = tsung.available() and not args.no_tsung
    side = beside_tsung(xmppext, args.tsung_sessions, args.tsung_ramp, args.duration) if measure_tsung else None

    lines = [
        HEADING,
        "",
        f"Measured by `scripts/bench --load` (benchmarks/load.py) on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; one run, nothing edited by hand.",
        "",
        *machine(),
        _versions(),
        f"- load average when the section was written (other processes share the 2 cores): {_load_average()}",
        "",
        f"### (L1) {2 * args.pairs:,} sessions ({args.pairs:,} pairs), every pair exchanging",
        "",
        f"`xmppext load --local --server KIND --pairs {args.pairs} --rate {args.pairs / 2:g} --duration "
        f"{args.duration:g}`: iq round trips carrying the tag, open loop (each pair every 2 s on average), "
        "latency from when each request was due; 2 worker processes; TLS verified, stream management on.",
        "",
        "| | " + " | ".join(scale) + " |",
        "|---|" + "---|" * len(scale),
    ]

    def row(name: str, value) -> str:
        return f"| {name} | " + " | ".join(value(summary) for summary in scale.values()) + " |"

    lines += [
        row("sessions logged in", lambda s: f"{s['sessions_up']:,} / {s['sessions_planned']:,}"),
        row(
            "login time p50 / p99 / max",
            lambda s: " / ".join(_ms(s["logins"][k]) for k in ("p50_ms", "p99_ms", "max_ms")),
        ),
        row("logins per second", lambda s: _n(s["logins_per_second"])),
        row("exchanges per second", lambda s: _n(s["exchanges_per_second"])),
        row(
            "exchange latency p50 / p90 / p99 / p99.9 / max",
            lambda s: " / ".join(_ms(s["exchanges"][k]) for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")),
        ),
        row(
            "ok / failed / lost / unsent", lambda s: f"{s['ok']:,} / {s['failed']:,} / {s['lost']:,} / {s['unsent']:,}"
        ),
        row(
            "generator memory per session: logged in / exchanging",
            lambda s: f"{_n(s['generator_kib_per_session'])} / {_n(s['generator_kib_per_session_exchanging'])} KiB",
        ),
        row("generator CPU per exchange", lambda s: f"{_n(s['generator_cpu_per_exchange_us'])} µs"),
        row("generator CPU per login", lambda s: f"{_n(s['generator_cpu_per_login_ms'], 2)} ms"),
        row("generator CPU while exchanging (100% = one core)", lambda s: f"{_n(s['generator_cpu_percent'])}%"),
        row("server CPU while exchanging", lambda s: f"{_n(s['server_cpu_percent'])}%"),
        row(
            "server CPU per exchange / per login",
            lambda s: f"{_n(s['server_cpu_per_exchange_us'])} µs / {_n(s['server_cpu_per_login_ms'], 2)} ms",
        ),
        row("exit status", lambda s: str(s["exit"])),
        "",
        "### (L2) Logins per second against each server's ceiling",
        "",
        "The ceiling is what the server's CPU allows: the cores it can use (Prosody: one process, one core; "
        "ejabberd: every core, here shared with the generator) divided by its CPU time per login, measured in "
        "(L1)'s login phase (no `--ramp`: as fast as the server takes them).",
        "",
        "| server | logins/s reached | server CPU per login | ceiling | reached / ceiling |",
        "|---|---|---|---|---|",
    ]
    for kind, summary in scale.items():
        cores = 1 if kind == "prosody" else (os.cpu_count() or 1)
        per_login = summary["server_cpu_per_login_ms"]
        ceiling = cores * 1000 / per_login if per_login else None
        reached = summary["logins_per_second"]
        ratio = reached / ceiling if ceiling and reached else None
        lines.append(
            f"| {kind} ({cores} core{'s' if cores > 1 else ''}) | {_n(reached)} | {_n(per_login, 2)} ms | "
            f"{_n(ceiling)} | {_n(ratio, 2)} |"
        )
    lines += [
        "",
        f"### (L3) {args.many_pairs:,} pairs against the single-pair pipelined burst",
        "",
        "On each server, one run after the other, each against the server started afresh: `xmppext respond` + "
        f"`xmppext send --repeat {args.burst} --window 64` (one pair, pipelined), then `xmppext load --pairs "
        f"{args.many_pairs} --window W --processes P --timeout 60 --duration {args.many_duration:g}` for each W and P "
        f"(closed loop: W requests in flight per pair, {args.many_pairs:,} W in all; P worker processes), then the "
        "single pair again. The ratio is to the mean of the two single-pair rates: on this shared machine one "
        "burst differs from the next by up to ±15%.",
        "",
        "| | exchanges per second | ratio to the single pair | p50 / p99 | lost | server CPU per exchange / busy "
        "| generator CPU per exchange / busy |",
        "|---|---|---|---|---|---|---|",
    ]
    rates: dict[tuple[str, tuple[int, int]], float] = {}
    for kind, (bursts, many) in spread.items():
        reference = burst_rate(bursts)
        for when, single in zip(("before", "after"), bursts, strict=True):
            lines.append(
                f"| {kind}: single pair, window 64 ({when}) | {_n(single['per_second'])} | "
                f"{_n(single['per_second'] / reference, 2)} | {_ms(single['p50_ms'])} / {_ms(single['p99_ms'])} | "
                f"{single['lost']} | {_cpu(single, single['sent'], single['wall_s'])} |"
            )
        for run, summary in many.items():
            rates[kind, run] = summary["exchanges_per_second"] / reference
            lines.append(
                f"| {kind}: {args.many_pairs:,} pairs, {_run_name(run)} | "
                f"{_n(summary['exchanges_per_second'])} | {_n(rates[kind, run], 2)} | "
                f"{_ms(summary['exchanges']['p50_ms'])} / {_ms(summary['exchanges']['p99_ms'])} | {summary['lost']} "
                f"| {_cpu(summary, summary['ok'], summary['wall_s'])} |"
            )
    lines += [
        "",
        "CPU per exchange is the CPU seconds each side used over the whole run (logins included) divided by its "
        "exchanges; busy is those seconds over the run's wall time (100% = one core; the machine has "
        f"{os.cpu_count()}, shared by the server, the generator and whatever else runs). Prosody is one process "
        "(at most one core); ejabberd runs on every core.",
        "",
    ]
    if side is not None:
        ours, theirs = side
        lines += tsung_table(args, ours, theirs)
    else:
        lines += ["(L4) not measured: Tsung is not installed (`scripts/setup --with-tsung`), or --no-tsung.", ""]
    lines += targets(args, scale, rates, side)
    return "\n".join(lines) + "\n"


def tsung_table(args: argparse.Namespace, ours: dict[str, dict], theirs: tsung.TsungRun) -> list[str]:
    sessions = args.tsung_sessions

    def better(mine: float | None, other: float | None) -> str:
        if mine is None or other is None:
            return "-"
        return f"{other / mine:.2f}x" if mine else "-"

    lines = [
        f"### (L4) Beside Tsung 1.7.0: {sessions:,} sessions, half pinging the server every 2 s",
        "",
        f"The same Prosody and accounts, one tool after the other: {sessions:,} sessions log in at "
        f"{args.tsung_ramp:g}/s over STARTTLS; half of them send a XEP-0199 ping to the server every 2 s for "
        f"{args.duration:g} s, the other half stay logged in and idle. xmppext: `xmppext load --kind ping "
        f"--pairs {sessions // 2} --rate {sessions / 4:g} --ramp {args.tsung_ramp:g} --no-stream-management "
        "--processes 1 --sasl MECHANISM`, once with SCRAM-SHA-1 (its default; the salted password cached) and "
        "once with PLAIN (Tsung's only SASL mechanism: the same work on both sides); no stream management, as "
        "Tsung has none. Tsung: its jabber plugin, SASL PLAIN, one Erlang VM, measured from /proc every second "
        "(CPU and resident memory of its process group). xmppext's CPU is its worker process's and its parent's, as "
        "its summary reports it.",
        "",
        "| generator | memory per session: logged in / pinging | CPU per exchange | CPU per login | pings/s "
        "| logins/s |",
        "|---|---|---|---|---|---|",
    ]
    for mechanism, summary in ours.items():
        lines.append(
            f"| xmppext load, {mechanism} | {_n(summary['generator_kib_per_session'])} / "
            f"{_n(summary['generator_kib_per_session_exchanging'])} KiB | "
            f"{_n(summary['generator_cpu_per_exchange_us'])} µs | {_n(summary['generator_cpu_per_login_ms'], 2)} ms "
            f"| {_n(summary['exchanges_per_second'])} | {_n(summary['logins_per_second'])} |"
        )
    lines.append(
        f"| Tsung 1.7.0, PLAIN | {_n(theirs.kib_per_session)} / {_n(theirs.kib_per_session_exchanging)} KiB | "
        f"{_n(theirs.cpu_per_exchange_us)} µs | {_n(theirs.cpu_per_login_ms, 2)} ms | {_n(theirs.pings_per_second)} "
        f"| {_n(theirs.logins_per_second)} (planned) |"
    )
    for mechanism, summary in ours.items():
        lines.append(
            f"| Tsung / xmppext {mechanism} (above 1: xmppext uses less) | "
            f"{better(summary['generator_kib_per_session_exchanging'], theirs.kib_per_session_exchanging)} | "
            f"{better(summary['generator_cpu_per_exchange_us'], theirs.cpu_per_exchange_us)} | "
            f"{better(summary['generator_cpu_per_login_ms'], theirs.cpu_per_login_ms)} | | |"
        )
    plain = ours.get("PLAIN") or next(iter(ours.values()))
    lines += [
        "",
        f"xmppext's ping latency p50 / p99 (PLAIN run): {_ms(plain['exchanges']['p50_ms'])} / "
        f"{_ms(plain['exchanges']['p99_ms'])}; Tsung's mean ping transaction: {_ms(theirs.mean_ms)} "
        f"({theirs.pings_counted:,} pings in its log). Tsung's memory and CPU while pinging are taken over "
        f"{theirs.window_seconds:.0f} s in which every session was logged in and every pinger pinging (its users "
        "arrive one by one and each starts pinging its own while after arriving); its pings in that window are its "
        "pingers times the window over 2 s.",
        "",
    ]
    return lines


def targets(
    args: argparse.Namespace, scale: dict, rates: dict[tuple[str, tuple[int, int]], float], side
) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    lines = ["Goals (issue 22):", ""]
    for kind, summary in scale.items():
        up = summary["sessions_up"] == summary["sessions_planned"] == 2 * args.pairs
        lines.append(
            f"- {2 * args.pairs:,} concurrent sessions, every pair exchanging, on {kind}: "
            f"{verdict(up and summary['ok'] > 0)} ({summary['sessions_up']:,} logged in, "
            f"{summary['ok']:,} exchanges, {summary['lost']:,} lost)"
        )
        memory = summary["generator_kib_per_session_exchanging"]
        lines.append(
            f"- ≤ 100 KiB of generator memory per session while exchanging, TLS, on {kind}: "
            f"{verdict(memory is not None and memory <= 100)} ({_n(memory)} KiB)"
        )
    for kind in args.servers:
        measured = {run: ratio for (server, run), ratio in rates.items() if server == kind}
        best = max(measured, key=measured.get, default=None)
        lines.append(
            f"- {args.many_pairs:,} pairs at ≥ 0.9 of the single-pair burst's rate, on {kind}: "
            f"{verdict(best is not None and measured[best] >= 0.9)} "
            + (f"({_n(measured[best], 2)}, {_run_name(best)})" if best is not None else "(not measured)")
        )
    if side is not None:
        ours, theirs = side
        same_work = ours.get("PLAIN") or next(iter(ours.values()))
        for name, key, other in (
            ("memory per session (pinging)", "generator_kib_per_session_exchanging", theirs.kib_per_session_exchanging),
            ("CPU per exchange", "generator_cpu_per_exchange_us", theirs.cpu_per_exchange_us),
            ("CPU per login", "generator_cpu_per_login_ms", theirs.cpu_per_login_ms),
        ):
            mine = same_work[key]
            ok = mine is not None and other is not None and mine < other
            by_mechanism = ", ".join(f"{mechanism} {_n(summary[key], 2)}" for mechanism, summary in ours.items())
            lines.append(
                f"- beat Tsung on {name}, with PLAIN as Tsung: {verdict(ok)} ({by_mechanism}; Tsung {_n(other, 2)})"
            )
    return [*lines, ""]


def write_section(path: Path, section: str) -> None:
    """Put ``section`` in place of the file's load section (or after the rest), keeping everything else (the
    sections before it, and after it: scripts/bench --locust's)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    before, _, old = text.partition(HEADING)
    after = old.split("\n## ", 1)[1] if "\n## " in old else ""
    head = before.rstrip("\n")
    path.write_text(f"{head}\n\n{section}" + (f"\n## {after}" if after else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xmppext", default=str(ROOT / ".venv" / "bin" / "xmppext"), help="the command to measure")
    parser.add_argument("--pairs", type=int, default=5000, help="pairs in (L1)")
    parser.add_argument("--servers", nargs="+", default=["prosody", "ejabberd"], help="servers of (L1), (L2) and (L3)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of exchanging in each run")
    parser.add_argument("--many-pairs", type=int, default=1000, help="pairs in (L3)")
    parser.add_argument("--burst", type=int, default=100_000, help="requests of (L3)'s single-pair burst")
    parser.add_argument(
        "--many-runs",
        type=_run_spec,
        nargs="+",
        default=[(1, 2), (16, 2), (16, 1)],
        help="(L3)'s runs as WINDOW:PROCESSES (requests in flight per pair, worker processes)",
    )
    parser.add_argument("--many-duration", type=float, default=30.0, help="seconds of exchanging in each (L3) run")
    parser.add_argument("--tsung-sessions", type=int, default=4000, help="sessions in (L4)")
    parser.add_argument("--tsung-ramp", type=float, default=100.0, help="logins per second in (L4)")
    parser.add_argument("--no-tsung", action="store_true", help="leave (L4) out (the smoke test does)")
    parser.add_argument("--output", type=Path, help="write the section into this file (BENCHMARKS.md)")
    args = parser.parse_args()
    section = report(args)
    print(section)
    if args.output:
        write_section(args.output, section)
    sys.exit(0)


if __name__ == "__main__":
    main()
