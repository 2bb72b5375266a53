"""The soak behind ``scripts/bench --soak``: many cut runs on both servers, both sides, cuts by time and by bytes.

Each run is the (a) burst of benchmarks/run.py (``xmppext respond`` and
``xmppext send --repeat N --window W --json`` as two processes) with one
side's connection going through the fault proxy, which cuts it every few
tenths of a second or every so many bytes (so cuts fall mid-stanza and
mid-resumption). Every run must end with exit 0 and lost 0.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

from benchmarks.run import xmppext_pair
from xmpp_ext.faultproxy import FaultPlan, ProxyThread
from xmpp_ext.servers import start_server

SIDES = ("sender", "responder")


@dataclass
class Row:
    server: str
    side: str
    plan: FaultPlan
    runs: int = 0
    failed_runs: int = 0  # exit not 0, or anything lost, failed or unsent
    cuts: int = 0
    lost: int = 0
    failed: int = 0
    unsent: int = 0
    resumed: int = 0
    new_sessions: int = 0
    resent: int = 0
    retried: int = 0
    duplicates: int = 0
    rates: list[float] = field(default_factory=list)


def soak(args: argparse.Namespace) -> list[str]:
    plans = (FaultPlan(cut_every_seconds=args.soak_cut_seconds), FaultPlan(cut_every_bytes=args.soak_cut_bytes))
    rows: list[Row] = []
    uncut: dict[str, float] = {}
    for kind in ("prosody", "ejabberd"):
        server = start_server(kind, accounts=0)
        try:
            uncut[kind] = xmppext_pair(args.xmppext, server, args.soak_count, args.window)["per_second"]
            for side in SIDES:
                for plan in plans:
                    row = Row(kind, side, plan)
                    rows.append(row)
                    for _ in range(args.soak_runs):
                        with ProxyThread((server.host, server.port), plan) as proxy:
                            port = {f"{side}_port": proxy.port}
                            summary = xmppext_pair(args.xmppext, server, args.soak_count, args.window, **port)
                            cuts = proxy.counters.cuts
                        add(row, summary, cuts)
        finally:
            server.stop()
    return table(rows, uncut, args)


def add(row: Row, summary: dict, cuts: int) -> None:
    row.runs += 1
    row.cuts += cuts
    for key in ("lost", "failed", "unsent", "resumed", "new_sessions", "resent", "retried", "duplicates"):
        setattr(row, key, getattr(row, key) + int(summary.get(key) or 0))
    if summary["exit"] != 0 or summary["lost"] or summary["failed"] or summary["unsent"]:
        row.failed_runs += 1
    row.rates.append(float(summary["per_second"]))


def table(rows: list[Row], uncut: dict[str, float], args: argparse.Namespace) -> list[str]:
    lines = [
        f"## Soak of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"`scripts/bench --soak`: {args.soak_runs} runs per row, each `send --repeat {args.soak_count:,} --window "
        f"{args.window}` against `respond`, one side through the fault proxy. A run passes with exit 0 and nothing "
        "lost, failed or unsent. Sender-side counts are the sender's summary (`resumed`, `new_sessions`, `resent`, "
        "`retried`: requests sent again under a new id); rate kept is the median run's rate over an uncut run on "
        "the same server.",
        "",
        "| server | side cut | cuts | runs | runs passed | cuts made | lost | resumed | new sessions | re-sent "
        "| sent again | duplicates | rate kept |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        median = sorted(row.rates)[len(row.rates) // 2] if row.rates else 0.0
        lines.append(
            f"| {row.server} | {row.side} | {row.plan.describe().removeprefix('a cut ')} | {row.runs} "
            f"| {row.runs - row.failed_runs} | {row.cuts} | {row.lost} | {row.resumed} | {row.new_sessions} "
            f"| {row.resent} | {row.retried} | {row.duplicates} | {median / uncut[row.server]:.2f} |"
        )
    totals = {kind: sum(row.runs for row in rows if row.server == kind) for kind in uncut}
    passed = {kind: sum(row.runs - row.failed_runs for row in rows if row.server == kind) for kind in uncut}
    lines += [
        "",
        "Uncut rate: "
        + ", ".join(f"{kind} {rate:,.0f}/s" for kind, rate in uncut.items())
        + ". Runs passed: "
        + ", ".join(f"{kind} {passed[kind]} of {totals[kind]}" for kind in uncut)
        + ".",
        "",
    ]
    return lines
