"""``xmppext load``: N sender/responder pairs exchanging the extension through a server, measured."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from xmpp_ext.cli.options import (
    MAX_WINDOW,
    BoundedNumber,
    Seconds,
    all_of,
    check_nodes,
    check_one_payload_source,
    nodes_option,
    server_address_options,
    tls_and_login_options,
    verbosity_options,
)
from xmpp_ext.cli.outcome import CommandFailed, Stopped, exit_code_for_load
from xmpp_ext.load.sasl import SASL_MECHANISMS
from xmpp_ext.util import envvars
from xmpp_ext.util.exitcodes import ExitCode, help_epilog
from xmpp_ext.util.serverkinds import LOCAL_SERVER_KINDS

MAX_PAIRS = 50_000
MAX_PROCESSES = 64
MAX_RATE = 1_000_000.0

EPILOG = help_epilog(
    ok="the run ended and crossed no threshold",
    failed="a --fail-if threshold was crossed (without --fail-if: an exchange failed or was lost, or a login "
    "failed), or a worker process crashed",
    bad_input="bad usage: conflicting options, a bad threshold, pattern or accounts file; nothing was sent",
    connect="no session could log in, or the local server did not start",
    interrupted="interrupted by Ctrl-C or SIGTERM: every session was logged out, the summary so far printed",
)


class ProcessCount(click.ParamType):
    """``auto`` (one per core) or a number of worker processes."""

    name = "auto|K"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == "auto":
            return None
        try:
            count = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither auto nor a number of processes", param, ctx)
        if not 1 <= count <= MAX_PROCESSES:
            self.fail(f"{count} processes: give 1 to {MAX_PROCESSES}, or auto", param, ctx)
        return count


class PerSecond(BoundedNumber):
    """A finite rate per second, more than 0."""

    name = "per-second"
    unit = "a number per second"
    noun = "a rate"

    def __init__(self) -> None:
        super().__init__(MAX_RATE)


class ThresholdType(click.ParamType):
    name = "METRIC OP VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        from xmpp_ext.load.thresholds import Threshold, parse

        if isinstance(value, Threshold):
            return value
        try:
            return parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class StallType(click.ParamType):
    """``AT:SECONDS``: every responder stops answering AT seconds into the exchanging, for SECONDS."""

    name = "AT:SECONDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, tuple):
            return value
        at, colon, seconds = str(value).partition(":")
        if not colon:
            self.fail(f"{value!r} is not AT:SECONDS (e.g. 2:1, a stall of 1 s starting 2 s into the run)", param, ctx)
        return (
            Seconds(86400, allow_zero=True).convert(at, param, ctx),
            Seconds(3600).convert(seconds, param, ctx),
        )


def _load_options(function):
    return all_of(
        [
            click.option(
                "--pairs",
                type=click.IntRange(1, MAX_PAIRS),
                default=10,
                show_default=True,
                help="Sender/responder pairs.",
            ),
            click.option(
                "--processes",
                type=ProcessCount(),
                default="auto",
                show_default=True,
                help="Worker processes, each with its own event loop (auto: one per core).",
            ),
            click.option(
                "--kind",
                type=click.Choice(["iq", "message", "ping"]),
                default="iq",
                show_default=True,
                help="iq round trips; tagged messages answered with a XEP-0461 reply; or XEP-0199 pings to the "
                "server (the responders stay idle).",
            ),
            click.option("--duration", type=Seconds(86400), help="Seconds of exchanging [default: 10].", metavar="S"),
            click.option("--exchanges", type=click.IntRange(1, 10**9), help="Exchanges in all, instead of --duration."),
            click.option(
                "--window",
                type=click.IntRange(1, MAX_WINDOW),
                help="Closed loop: requests in flight per sender [default: 1].",
            ),
            click.option(
                "--rate",
                type=PerSecond(),
                help="Open loop: exchanges per second in all, each measured from when it was due.",
            ),
            click.option(
                "--ramp",
                type=PerSecond(),
                help="Logins per second in all, those due in the same 0.1 s started together [default: as fast as "
                "the server takes them].",
            ),
            click.option(
                "--timeout",
                type=Seconds(),
                default=10.0,
                show_default=True,
                help="Seconds before a request without a reply is lost.",
            ),
        ]
    )(function)


def _account_options(function):
    return all_of(
        [
            click.option("--local", is_flag=True, help="Start a throwaway local server with 2N fresh accounts."),
            click.option(
                "--server",
                "server_kind",
                type=click.Choice([*LOCAL_SERVER_KINDS, "all"]),
                default="prosody",
                show_default=True,
                help="The local server --local starts (all: one run on each).",
            ),
            nodes_option(
                "With --local --server ejabberd: a cluster of N nodes on 127.0.0.1; each pair's sender and "
                "responder log in to different nodes, so every exchange crosses the cluster."
            ),
            click.option(
                "--accounts",
                "pattern",
                metavar="PATTERN",
                help=f"Your server's accounts, e.g. 'load{{n}}@example.net' (n = --first ...), "
                f"all with the password in {envvars.PASSWORD}.",
            ),
            click.option(
                "--first",
                type=click.IntRange(0, 10**9),
                default=1,
                show_default=True,
                help="The first {n} of --accounts.",
            ),
            click.option(
                "--accounts-file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="Your server's accounts, one 'JID PASSWORD' per line; pair i uses lines 2i+1 and 2i+2.",
            ),
            *server_address_options("Server address [default: the accounts' domain, via DNS SRV]."),
            *tls_and_login_options(login_timeout=30.0),
        ]
    )(function)


@click.command(epilog=EPILOG)
@_load_options
@_account_options
@click.option("--no-stream-management", is_flag=True, help="No XEP-0198 acks or resumption on the sessions.")
@click.option(
    "--sasl",
    type=click.Choice(SASL_MECHANISMS),
    help="Authenticate with this SASL mechanism only [default: the strongest the server offers]; PLAIN only "
    "over TLS (to compare with a tool that knows no other).",
)
@click.option(
    "--fail-if",
    "fail_if",
    type=ThresholdType(),
    multiple=True,
    help="Exit 1 when crossed, e.g. 'p99>20ms', 'lost>0', 'failed>0.1%' (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per second, then the summary, on stdout.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write charts: FILE.html (self-contained) or FILE.png.",
)
@click.option(
    "--stall-responders",
    type=StallType(),
    help="Every responder stops answering AT s into the run, for SECONDS (to see a stall in the percentiles).",
)
@click.option(
    "--raw",
    is_flag=True,
    help="Your extension: each request is an iq get carrying the payload of --xml or --path (any result is ok).",
)
@click.option("--xml", help="With --raw: the payload element, in its own namespace.")
@click.option(
    "--path",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="With --raw: a file holding the payload element, or - for standard input.",
)
@click.option(
    "--responder-plugin",
    metavar="MODULE:CLASS",
    help="With --raw: your slixmpp plugin answers on every responder (imported from the current directory or "
    "sys.path) [default: an empty result].",
)
@verbosity_options
def command(**options: Any) -> None:
    """Run N sender/responder pairs exchanging the example_tag extension through a server, measured.

    Each pair is two sessions: the sender sends requests to the responder,
    which answers them (iq results carrying the tag, or XEP-0461 replies to
    tagged messages). First every session logs in (--ramp logins/s, or as fast
    as the server takes them), then all pairs exchange together for --duration
    seconds (or --exchanges in all), then every session logs out.

    Closed loop (--window W, the default with W=1) keeps W requests in flight
    per sender: it measures capacity. Open loop (--rate R) sends R exchanges a
    second in all, each measured from when it was due, so a stalled server
    shows in the percentiles (no coordinated omission).

    Latencies go into HDR histograms in every worker process, merged exactly.
    The summary gives p50/p90/p99/p99.9/max of exchanges and logins, rates,
    failures by condition, the generator's CPU and memory per session, and on
    a local server its CPU (whether it was the bottleneck).

    With --raw, the requests carry your extension's payload instead, and
    --responder-plugin MODULE:CLASS has your slixmpp plugin answer them.

    \b
    Examples:
      xmppext load --local --pairs 1000 --duration 30
      xmppext load --local --server ejabberd --rate 5000 --report run.html
      XMPPEXT_PASSWORD=... xmppext load --accounts 'load{n}@example.net' --pairs 100 --fail-if 'p99>50ms'
      xmppext load --local --raw --xml '<greeting xmlns="urn:example:greeting" language="en"/>' \\
          --responder-plugin bot:GreetingResponder
    """
    from xmpp_ext.load.exchange import Kind
    from xmpp_ext.load.plan import LoadPlan, default_processes
    from xmpp_ext.load.thresholds import DEFAULT, parse

    _check_combinations(options)
    report_path: Path | None = options["report"]
    if report_path is not None:
        _check_report(report_path)
    thresholds = list(options["fail_if"]) or [parse(DEFAULT)]
    stall = options["stall_responders"]
    payload = _raw_payload(options) if options["raw"] else None
    plan = LoadPlan(
        pairs=options["pairs"],
        kind=Kind(options["kind"]),
        window=None if options["rate"] is not None else (options["window"] or 1),
        rate=options["rate"],
        duration=None if options["exchanges"] is not None else (options["duration"] or 10.0),
        exchanges=options["exchanges"],
        ramp=options["ramp"],
        timeout=options["timeout"],
        stream_management=not options["no_stream_management"],
        host=options["host"],
        port=options["port"],
        ca_cert=str(options["ca_cert"].resolve()) if options["ca_cert"] else None,
        insecure=options["insecure"],
        direct_tls=options["direct_tls"],
        login_timeout=options["login_timeout"],
        sasl=options["sasl"],
        stall_at=stall[0] if stall else None,
        stall_for=stall[1] if stall else 0.0,
        payload=payload,
        responder_plugin=options["responder_plugin"],
    )
    processes = options["processes"] or default_processes()
    view = View(as_json=options["as_json"], quiet=options["verbosity"] < 0)
    if options["insecure"]:
        click.secho("WARNING: --insecure: the server's TLS certificate is NOT verified", fg="red", err=True)
    if options["local"]:
        kinds = LOCAL_SERVER_KINDS if options["server_kind"] == "all" else (options["server_kind"],)
        statuses = []
        for kind in kinds:
            path = _per_server(report_path, kind) if report_path is not None and len(kinds) > 1 else report_path
            statuses.append(_run_local(kind, options["nodes"], plan, processes, view, thresholds, path))
            if statuses[-1] == ExitCode.INTERRUPTED:
                break
        sys.exit(max(statuses) if ExitCode.INTERRUPTED not in statuses else ExitCode.INTERRUPTED)
    accounts = _users_accounts(options)
    where = options["host"] or accounts[0].sender.jid.partition("@")[2]
    sys.exit(_run(plan, accounts, processes, view, thresholds, report_path, where, server=None))


def _check_combinations(options: dict[str, Any]) -> None:
    context = click.get_current_context()

    def typed(name: str) -> bool:
        return context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE

    # The options that only --local takes first: "use it with --local" says more than "give one of".
    if typed("server_kind") and not options["local"]:
        raise click.UsageError("--server chooses the server --local starts; use it with --local")
    if typed("nodes") and not options["local"]:
        raise click.UsageError("--nodes chooses the local cluster --local starts; use it with --local")
    sources = [name for name in ("local", "pattern", "accounts_file") if options[name]]
    if len(sources) != 1:
        raise click.UsageError("give exactly one of --local, --accounts PATTERN or --accounts-file FILE")
    check_nodes(options["nodes"], options["server_kind"])
    if options["local"]:
        for name in ("host", "port", "ca_cert", "insecure", "direct_tls", "first"):
            if options[name] and typed(name):
                raise click.UsageError(f"--{name.replace('_', '-')} is for your own server; --local makes its own")
    if typed("first") and not options["pattern"]:
        raise click.UsageError("--first numbers the accounts of --accounts PATTERN")
    if options["window"] is not None and options["rate"] is not None:
        raise click.UsageError("--window (closed loop) and --rate (open loop) exclude each other")
    if options["duration"] is not None and options["exchanges"] is not None:
        raise click.UsageError("--duration and --exchanges exclude each other")
    if options["as_json"] and options["verbosity"] > 0:
        raise click.UsageError("--json and -d both write to the terminal; choose one")
    _check_raw_combinations(options, typed)


def _check_raw_combinations(options: dict[str, Any], typed) -> None:
    if not options["raw"]:
        for name in ("xml", "path", "responder_plugin"):
            if options[name] is not None:
                raise click.UsageError(f"--{name.replace('_', '-')} goes with --raw (your extension's payload)")
        return
    if typed("kind") and options["kind"] != "iq":
        raise click.UsageError("--raw sends your payload in iq requests: not with --kind message or ping")
    check_one_payload_source(options["path"], options["xml"])
    if options["responder_plugin"] is not None and options["stall_responders"] is not None:
        raise click.UsageError("--stall-responders holds the engine's answers: not with --responder-plugin")


#: Longest address a request's size is checked with (the accounts are not known yet): a generous JID.
SIZE_CHECK_ADDRESS = "x" * 200


def _raw_payload(options: dict[str, Any]) -> str:
    """The payload --raw sends, read and checked (its request too, as written), serialised once as the workers
    write it; the plugin of --responder-plugin loaded (so a bad one is a usage error here, before any worker or
    server starts)."""
    from slixmpp.xmlstream import tostring

    from xmpp_ext.jobs.send.raw import raw_step, read_raw_payload
    from xmpp_ext.jobs.send.steps import written_size
    from xmpp_ext.plugin import ExampleTagError
    from xmpp_ext.plugin.payload import check_payload_size
    from xmpp_ext.session import patches
    from xmpp_ext.session.userplugin import PluginLoadError, load_plugin

    try:
        payload = read_raw_payload(options["path"], options["xml"], sys.stdin.buffer)
        check_payload_size(written_size(raw_step("iq", payload), SIZE_CHECK_ADDRESS), "each request as written")
    except ExampleTagError as exc:
        raise click.BadParameter(str(exc), param_hint="--path" if options["path"] is not None else "--xml") from None
    if options["responder_plugin"] is not None:
        try:
            load_plugin(options["responder_plugin"])
        except PluginLoadError as exc:
            raise click.BadParameter(str(exc), param_hint="--responder-plugin") from None
    patches.apply()  # tab, newline and CR written as references, as the workers (and send --raw) write them
    return tostring(payload)


def _check_report(path: Path) -> None:
    from xmpp_ext.load import report

    if path.suffix.lower() not in report.FORMATS:
        raise click.BadParameter(f"{path}: the report is .html or .png", param_hint="--report")
    if not report.available():
        raise click.BadParameter(report.INSTALL_HINT, param_hint="--report")
    if not path.parent.is_dir():
        raise click.BadParameter(f"{path.parent} is not a directory", param_hint="--report")


def _per_server(path: Path, kind: str) -> Path:
    return path.with_name(f"{path.stem}-{kind}{path.suffix}")


def _users_accounts(options: dict[str, Any]):
    from xmpp_ext.load import accounts
    from xmpp_ext.util.secret import Secret

    try:
        if options["accounts_file"] is not None:
            return accounts.from_file(options["accounts_file"], options["pairs"])
        accounts.check_pattern(options["pattern"])
    except accounts.AccountsError as exc:
        hint = "--accounts-file" if options["accounts_file"] else "--accounts"
        raise click.BadParameter(str(exc), param_hint=hint) from None
    password = os.environ.get(envvars.PASSWORD)
    if not password:
        raise click.UsageError(f"no password: set {envvars.PASSWORD} (every account of --accounts has it)")
    return accounts.from_pattern(options["pattern"], options["pairs"], options["first"], Secret(password))


def _run_local(
    kind: str, nodes: int, plan, processes: int, view: View, thresholds, report_path: Path | None
) -> ExitCode:
    from dataclasses import replace

    from xmpp_ext.load import accounts
    from xmpp_ext.load.coordinator import LocalServerInfo
    from xmpp_ext.servers import SERVERS, ServerFailed, ServerNotInstalled
    from xmpp_ext.servers.cluster import clustered
    from xmpp_ext.util.stopsignals import forget_interrupted_frames, sigterm_as_ctrl_c

    server = None
    try:
        with sigterm_as_ctrl_c():
            server = clustered(kind, nodes, for_load=True) if nodes > 1 else SERVERS[kind](for_load=True)
            server.start()
            started = time.monotonic()
            made = accounts.make_local(server, plan.pairs)
            ports = server.ports
            view.event(
                f"local {kind} on {server.host}:{','.join(map(str, ports))} (TLS verified with a fresh CA): "
                f"{2 * plan.pairs:,} accounts made in {time.monotonic() - started:.1f}s"
            )
        # Prosody is one process (one core); ejabberd's Erlang VM uses every core.
        cores = 1 if kind == "prosody" else (os.cpu_count() or 1)
        info = LocalServerInfo(pgids=tuple(server.process_groups), cores=cores)
        where = f"local {kind} {server.host}:{','.join(map(str, ports))}" + (f" ({nodes} nodes)" if nodes > 1 else "")
        local_plan = replace(
            plan,
            host=server.host,
            port=server.port,
            node_ports=ports if nodes > 1 else None,
            ca_cert=str(server.ca_cert.resolve()),
        )
        return _run(local_plan, made, processes, view, thresholds, report_path, where, info)
    except (ServerNotInstalled, ServerFailed) as exc:
        raise CommandFailed(str(exc), ExitCode.CONNECT) from None
    except KeyboardInterrupt as interrupt:
        forget_interrupted_frames(interrupt)
        raise Stopped(f"interrupted while starting {kind}") from None
    finally:
        if server is not None:
            server.stop()


def _run(plan, accounts, processes: int, view: View, thresholds, report_path, where: str, server) -> ExitCode:
    import asyncio
    from dataclasses import replace

    from xmpp_ext.load.coordinator import Coordinator
    from xmpp_ext.load.thresholds import crossings

    plan = replace(plan, epoch=time.time())
    processes = min(processes, plan.pairs)
    title = f"{plan.pairs:,} pairs on {where}, {processes} process{'es' if processes > 1 else ''}, {_loop(plan)}"
    view.event(f"load: {title}")
    coordinator = Coordinator(plan, accounts, processes, server, view.second, view.event)
    outcome = asyncio.run(coordinator.run())
    view.clear()
    totals = outcome.totals
    lines = summary_lines(totals, where)
    # An interrupted run's errors are the interruption's (requests in flight count as lost): no verdict.
    crossed = [] if totals.interrupted or not totals.sessions_up else crossings(thresholds, totals)
    view.summary(totals, lines)
    if report_path is not None:
        from xmpp_ext.load.report import write_report

        write_report(report_path, outcome, f"xmppext load: {title}", lines)
        view.event(f"report written to {report_path}")
    for line in crossed:
        click.echo(line, err=True)
    return exit_code_for_load(totals, crossed)


def _loop(plan) -> str:
    exchanging = f"{plan.exchanges:,} exchanges" if plan.exchanges is not None else f"{plan.duration:g}s"
    loop = f"open loop {plan.rate:,.6g}/s" if plan.open_loop else f"closed loop, window {plan.window}"
    what = plan.kind.value
    if plan.payload is not None:
        from xmpp_ext.load.exchange import payload_tag
        from xmpp_ext.plugin.payload import describe_tag

        answered = f"answered by {plan.responder_plugin}" if plan.responder_plugin else "answered with empty results"
        what = f"iq {describe_tag(payload_tag(plan.payload))} {answered}"
    return f"{what}, {loop}, {exchanging}"


# -- presentation ---------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} µs"
    return f"{value:.3g} ms" if value < 100 else f"{value:,.0f} ms"


def _rate(value: float | None) -> str:
    return f"{value:,.1f}/s" if value is not None else "-"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{condition} {count:,}" for condition, count in sorted(counts.items(), key=lambda item: -item[1]))


def summary_lines(totals, where: str) -> list[str]:
    """The final table, as lines (the terminal and the report show the same)."""
    header = f"{'':12}{'count':>10}{'rate':>13}{'p50':>10}{'p90':>10}{'p99':>10}{'p99.9':>10}{'max':>10}"
    lines = [header]
    for name, summary, rate in (
        ("exchanges", totals.exchanges, totals.exchanges_per_second),
        ("logins", totals.logins, totals.logins_per_second),
    ):
        cells = [summary.p50_ms, summary.p90_ms, summary.p99_ms, summary.p999_ms, summary.max_ms]
        lines.append(f"{name:12}{summary.count:>10,}{_rate(rate):>13}" + "".join(f"{_ms(cell):>10}" for cell in cells))
    lines.append(
        f"sessions {totals.sessions_up:,}/{totals.sessions_planned:,} logged in"
        + (f" ({totals.login_failed:,} failed: {_counts(totals.login_failed_by)})" if totals.login_failed else "")
        + f"; exchanges: {totals.ok:,} ok, {totals.failed:,} failed"
        + (f" ({_counts(totals.failed_by)})" if totals.failed else "")
        + f", {totals.lost:,} lost, {totals.late:,} late, {totals.unsent:,} unsent"
    )
    if totals.disconnected or totals.resumed or totals.new_sessions or totals.sessions_lost:
        lines.append(
            f"connections: {totals.disconnected:,} cut, {totals.resumed:,} resumed, "
            f"{totals.new_sessions:,} new sessions, {totals.sessions_lost:,} sessions lost"
        )
    lines.append(
        _facts(
            f"generator: {totals.processes} process{'es' if totals.processes > 1 else ''}",
            (totals.generator_cpu_percent, "{:.0f}% CPU while exchanging"),
            (totals.generator_cpu_per_exchange_us, "{:,.0f} µs CPU per exchange"),
            (totals.generator_cpu_per_login_ms, "{:.2f} ms per login"),
            (totals.generator_kib_per_session, "{:,.0f} KiB per session"),
            (totals.generator_kib_per_session_exchanging, "{:,.0f} KiB exchanging"),
        )
    )
    if totals.server_cpu_percent is not None or totals.server_cpu_per_login_ms is not None:
        line = _facts(
            f"server ({where})",
            (totals.server_cpu_percent, "{:.0f}% CPU while exchanging"),
            (totals.server_cpu_per_exchange_us, "{:,.0f} µs per exchange"),
            (totals.server_cpu_per_login_ms, "{:.2f} ms per login"),
        )
        lines.append(line + (": the server was the bottleneck" if totals.server_bottleneck else ""))
    for crash in totals.crashed:
        lines.append(f"crashed: {crash} (its counts until then are included)")
    if totals.interrupted:
        lines.append("interrupted: the summary covers the run until then; requests in flight counted as lost")
    return lines


def _facts(head: str, *facts: tuple[float | None, str]) -> str:
    """``head, fact, fact, ...`` with each measured fact formatted (those not measured left out)."""
    return ", ".join([head, *(template.format(value) for value, template in facts if value is not None)])


class View:
    """What the terminal shows: events, a live line (on a terminal), per-second JSON, the summary."""

    def __init__(self, as_json: bool, quiet: bool) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.live = sys.stderr.isatty() and not as_json and not quiet
        self._shown = False

    def event(self, line: str) -> None:
        self.clear()
        if not self.quiet or line.startswith(("interrupted", "worker")):
            click.echo(line, err=True)

    def second(self, second) -> None:
        if self.as_json:
            click.echo(json.dumps(second.as_dict()))
        elif self.live:
            parts = [
                f"{second.second:>4}s {second.phase:<6}",
                f"sessions {second.up:,}",
                f"{second.ok:,} ex/s",
                f"p99 {_ms(second.p99_ms)}",
                f"errors {second.failed + second.lost:,}",
                f"generator {second.generator_cpu * 100:.0f}%",
            ]
            if second.server_cpu is not None:
                parts.append(f"server {second.server_cpu * 100:.0f}%")
            click.echo("\r\x1b[2K" + "  ".join(parts), err=True, nl=False)
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            click.echo("\r\x1b[2K", err=True, nl=False)
            self._shown = False

    def summary(self, totals, lines: list[str]) -> None:
        if self.as_json:
            click.echo(json.dumps({"summary": totals.as_dict()}))
        else:
            for line in lines:
                click.echo(line)
