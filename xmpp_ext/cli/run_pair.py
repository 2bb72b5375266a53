"""``xmppext run-pair``: a responder and the sender's scenario against it, as two processes."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import click

from xmpp_ext.cli.local import start_pair_server
from xmpp_ext.cli.options import (
    Seconds,
    check_nodes,
    env_file_option,
    load_env_file,
    nodes_option,
    server_option,
    timeout_option,
    verbosity_options,
)
from xmpp_ext.cli.outcome import exit_code_for_pair_error
from xmpp_ext.util.exitcodes import help_epilog

EPILOG = help_epilog(
    ok="the sender's exchanges (the tutorial's seven, or the --raw one) ended as expected",
    failed="some exchange failed, or a client died early",
    connect="a client could not log in, the responder was never ready, or the local server did not start",
)


def _terminal(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not shlex.split(value):
        raise click.BadParameter("an empty command")
    return value


def _check_terminal_installed(terminal: str) -> None:
    """After the options that do not go with --terminal: those say more than a missing program."""
    program = shlex.split(terminal)[0]
    if shutil.which(program) is None:
        raise click.BadParameter(f"{program!r} is not installed (not found on PATH)", param_hint="'--terminal'")


@click.command(epilog=EPILOG)
@env_file_option(
    "Credentials: XMPPEXT_SENDER_JID, XMPPEXT_SENDER_PASSWORD, XMPPEXT_RESPONDER_JID, XMPPEXT_RESPONDER_PASSWORD, "
    "XMPPEXT_HOST, ..."
)
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="XML file for the sender's file step (with --raw: the payload the sender sends).",
)
@click.option(
    "--responder-cmd",
    metavar="CMD",
    help="Pair the sender with your own bot instead of `xmppext respond`: CMD is started with the responder "
    "account's login in XMPPEXT_* variables, and is online once its presence arrives or it prints READY.",
)
@click.option(
    "--raw",
    is_flag=True,
    help="The sender sends one payload of any extension (send --raw) from --xml or --path, instead of the "
    "tutorial's exchanges.",
)
@click.option("--xml", metavar="XML", help="With --raw: the payload, as an XML string.")
@click.option(
    "--check-support",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[NAMESPACE]",
    help="The sender first asks the responder's disco#info, as send --check-support does.",
)
@verbosity_options
@timeout_option("Seconds the sender waits for each reply.")
@click.option(
    "--ready-timeout",
    type=Seconds(600),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the responder's READY.",
)
@click.option(
    "--terminal", metavar="PREFIX", callback=_terminal, help='Run each client in its own window, e.g. "xterm -e".'
)
@click.option("--local", is_flag=True, help="Run against a throwaway local server instead (no .env needed).")
@server_option("Which local server --local starts.")
@nodes_option(
    "With --local --server ejabberd: a cluster of N nodes on 127.0.0.1, the sender on one node and the responder "
    "on another, so every exchange crosses the cluster."
)
def command(
    env_file: Path,
    path: Path | None,
    responder_cmd: str | None,
    raw: bool,
    xml: str | None,
    check_support: str | None,
    verbosity: int,
    timeout: float,
    ready_timeout: float,
    terminal: str | None,
    local: bool,
    server_kind: str,
    nodes: int,
) -> None:
    """Run a responder and the sender's scenario against it, as two processes.

    Reads both accounts from ENV_FILE, starts `xmppext respond`, waits for its
    READY line, then runs `xmppext send` at it. Passwords reach the clients
    through their environment only. Output is interleaved line by line,
    prefixed [responder] and [sender]. The exit status is the sender's; both
    clients are always stopped at the end, on Ctrl-C and on SIGTERM.

    With --responder-cmd, your own bot is the responder (started, awaited
    and stopped as `scenario --responder` does); with --raw, the sender sends
    your extension's payload and prints the reply.

    \b
    Examples:
      xmppext run-pair --local
      xmppext run-pair --env-file ~/.config/xmppext/.env --path my_tag.xml
      xmppext run-pair --local --responder-cmd 'python bot.py' --raw --check-support \\
          --xml '<greeting xmlns="urn:example:greeting" language="en"/>'
    """
    from xmpp_ext.jobs.pair import PairOptions

    context = click.get_current_context()
    typed = {
        name
        for name in ("server_kind", "env_file", "nodes")
        if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    }
    if "server_kind" in typed and not local:
        raise click.UsageError("--server chooses the server --local starts; use it with --local")
    if "nodes" in typed and not local:
        raise click.UsageError("--nodes chooses the local cluster --local starts; use it with --local")
    check_nodes(nodes, server_kind)
    if "env_file" in typed and local:
        raise click.UsageError("--local makes its own accounts; --env-file is for running without it")

    if responder_cmd is not None and terminal is not None:
        raise click.UsageError("--terminal opens windows for xmppext's own clients: not with --responder-cmd")
    if terminal is not None:
        _check_terminal_installed(terminal)
    if xml is not None and not raw:
        raise click.UsageError("--xml gives the sender's payload: use it with --raw")
    if raw:
        _check_raw_payload(path, xml)
    elif path is not None:
        _check_payload(path)
    options = PairOptions(
        path=path,
        verbosity=verbosity,
        timeout=timeout,
        ready_timeout=ready_timeout,
        terminal=terminal,
        responder_cmd=_responder_command(responder_cmd, ready_timeout) if responder_cmd is not None else None,
        raw=raw,
        xml=xml,
        check_support=check_support,
    )
    if local:
        status = _run_locally(options, server_kind, nodes)
    else:
        status, _pair = _run(load_env_file(env_file), options)
    sys.exit(status)


def _check_payload(path: Path) -> None:
    """Refuse a bad --path before any process starts."""
    from xmpp_ext.plugin import ExampleTag, ExampleTagError

    try:
        ExampleTag().setup_from_file(path)
    except ExampleTagError as exc:
        raise click.BadParameter(str(exc), param_hint="--path") from None


def _check_raw_payload(path: Path | None, xml: str | None) -> None:
    """Refuse a bad --raw payload before any process starts (the sender would refuse it too, later)."""
    from xmpp_ext.jobs.send.raw import read_raw_payload
    from xmpp_ext.jobs.send.steps import STDIN_PATH
    from xmpp_ext.plugin import ExampleTagError

    if path is not None and xml is not None:
        raise click.UsageError("--path and --xml both give the payload: choose one")
    if path == STDIN_PATH:
        raise click.BadParameter("the sender is a child process: give the payload in a file or with --xml")
    try:
        read_raw_payload(path, xml, None)
    except ExampleTagError as exc:
        raise click.BadParameter(str(exc), param_hint="--path" if path is not None else "--xml") from None


def _responder_command(command: str, ready_timeout: float):
    from xmpp_ext.scenario.program import ResponderCommand

    try:
        return ResponderCommand.parse(command, ready_timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--responder-cmd") from None


def _run(credentials, options, until_routable=None):
    import asyncio

    from xmpp_ext.jobs.pair import Pair, PairError

    pair = Pair(credentials, options, click.echo, until_routable)
    try:
        return asyncio.run(pair.run()), pair
    except PairError as exc:
        click.echo(f"Error: {exc}", err=True)
        return exit_code_for_pair_error(exc), pair


def _routable_in(cluster):
    """The cluster's wait until every node knows the responder's session; its failure a PairError (exit 3)."""
    from xmpp_ext.jobs.pair import PairError, PairFailure

    return cluster.routable_wait(lambda message: PairError(message, PairFailure.NOT_READY))


def _run_locally(options, kind: str, nodes: int) -> int:
    server, credentials = start_pair_server(kind, nodes)
    try:
        if nodes > 1:
            click.echo(
                f"local {server.kind} cluster of {nodes} nodes, TLS verified with a fresh CA: sender on "
                f"{server.host}:{credentials.port_of('sender')}, responder on {server.host}:"
                f"{credentials.port_of('responder')}"
            )
        else:
            click.echo(f"local {server.kind} on {server.host}:{server.port}, TLS verified with a fresh CA")
        status, _pair = _run(credentials, options, _routable_in(server) if nodes > 1 else None)
    finally:
        server.stop()
    click.echo(f"local server stopped; exit status {status}")
    return status
