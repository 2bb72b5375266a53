"""``xmppext fault-proxy``: parsing and presentation for xmpp_ext.faultproxy (registered by the root group)."""

from __future__ import annotations

import asyncio
import dataclasses

import click

from xmpp_ext.faultproxy import (
    DEFAULT_DURATION,
    FaultPlan,
    FaultProxy,
    FaultProxyError,
    parse_cut_every,
    parse_duration,
    parse_endpoint,
    parse_seconds,
)
from xmpp_ext.util.exitcodes import ExitCode, help_epilog
from xmpp_ext.util.stopsignals import on_stop_signals


class _Parsed(click.ParamType):
    """A value parsed by one of xmpp_ext.faultproxy's functions; its FaultProxyError becomes click's one line."""

    def __init__(self, name: str, parse) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except FaultProxyError as exc:
            self.fail(str(exc), param, ctx)


LISTEN = _Parsed("[HOST:]PORT", lambda text: parse_endpoint(text, listen=True))
TARGET = _Parsed("HOST:PORT", parse_endpoint)
CUT_EVERY = _Parsed("SECONDS|BYTES", parse_cut_every)
STALL = _Parsed("SECONDS", lambda text: parse_seconds(text, "--stall"))
DURATION = _Parsed("SECONDS", parse_duration)


class CannotListen(click.ClickException):
    exit_code = ExitCode.CONNECT


@click.command(
    "fault-proxy",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=help_epilog(
        ExitCode.OK,
        ExitCode.BAD_INPUT,
        ExitCode.CONNECT,
        ok="ran for --for seconds, or was stopped by Ctrl-C or SIGTERM",
        bad_input="bad usage, or an address that is not loopback (127.0.0.0/8 or ::1)",
        connect="could not listen on the --listen address",
    ),
)
@click.option(
    "--listen", "listen", type=LISTEN, required=True, help="Listen here (127.0.0.0/8 or ::1; port 0: any free port)."
)
@click.option("--to", "target", type=TARGET, required=True, help="Forward to this loopback address (the server).")
@click.option(
    "--cut-every",
    "plan",
    type=CUT_EVERY,
    help="Cut each connection after this long (2s, 500ms) or this many bytes both ways (64kb, 1mb).",
)
@click.option("--stall", type=STALL, help="Make each fault a stall of this many seconds instead of a cut.")
@click.option(
    "--for",
    "duration",
    type=DURATION,
    default=f"{DEFAULT_DURATION:g}",
    show_default=True,
    help="Stop after this many seconds (at most 3600).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only where it listens and the final counts, not each fault.")
def command(listen, target, plan, stall, duration, quiet) -> None:
    """Forward TCP connections from LISTEN to TO on loopback, cutting or stalling them on purpose.

    Point a client (xmppext send --host/--port, or any other) at the proxy to
    rehearse dropped connections and frozen links. TLS passes through untouched.
    Prints LISTENING HOST:PORT once it accepts connections (also with -q: with
    --listen 0 it names the port picked), one line per cut or stall, and the
    counts of connections, cuts, stalls and bytes when it stops.
    """
    plan = plan or FaultPlan()
    if stall is not None:
        try:
            plan = dataclasses.replace(plan, stall=stall)
        except FaultProxyError as exc:
            raise click.UsageError(str(exc)) from None
    asyncio.run(_serve(listen, target, plan, duration, quiet))


async def _serve(listen: tuple[str, int], target: tuple[str, int], plan: FaultPlan, duration: float, quiet: bool):
    proxy = FaultProxy(target, listen, plan, on_fault=None if quiet else click.echo)
    stop = asyncio.Event()
    try:
        await proxy.start()
    except OSError as exc:
        raise CannotListen(f"cannot listen on {_address(listen)}: {exc.strerror or exc}") from None
    try:
        # Also with -q: with --listen 0 it is the only way to learn the port.
        click.echo(
            f"LISTENING {_address((proxy.host, proxy.port))} -> {_address(target)} "
            f"({plan.describe()}, for at most {duration:g}s)"
        )
        with on_stop_signals(lambda _signum: stop.set()):
            await proxy.run_for(duration, stop)
    finally:
        await proxy.stop()
    click.echo(f"fault-proxy: {proxy.counters.summary()}")


def _address(endpoint: tuple[str, int]) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
