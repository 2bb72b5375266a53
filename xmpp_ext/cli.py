"""The ``xmppext`` command: parsing and presentation only; the jobs live in their own modules.

Exit codes (also in --help and the README):
  0  every exchange ended as expected
  1  some exchange failed: an unexpected error reply, a time-out, a lost reply
  2  bad usage or bad input; nothing was sent
  3  could not connect, TLS certificate not trusted, or authentication failed
  130  interrupted by Ctrl-C (send, run-pair: also SIGTERM), after the summary; respond exits 0
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from slixmpp import JID
from slixmpp.jid import InvalidJID

from xmpp_ext import __version__

EXIT_FAILED, EXIT_CONNECT, EXIT_INTERRUPTED = 1, 3, 130  # 0 and 2 (usage) come from click and sys.exit
# The servers xmpp_ext.localserver can start (not imported here: it is slow to import).
LOCAL_SERVERS = ("prosody", "ejabberd")
EXIT_CODES_HELP = """\b
Exit codes:
  0  every exchange ended as expected
  1  some exchange failed (unexpected error, time-out, lost reply)
  2  bad usage or bad input; nothing was sent
  3  could not connect, TLS not trusted, or authentication failed
  130  interrupted by Ctrl-C (send, run-pair: also SIGTERM), after the summary"""


class ConnectFailed(click.ClickException):
    exit_code = EXIT_CONNECT


class ExchangeFailed(click.ClickException):
    exit_code = EXIT_FAILED


class RunInterrupted(click.ClickException):
    """Ctrl-C or SIGTERM during a run: not an error, so no "Error:" prefix."""

    exit_code = EXIT_INTERRUPTED

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xmppext")
def cli() -> None:
    """Build, send, answer and inspect the example_tag XMPP extension."""


# -- shared options -------------------------------------------------------------------------------


def _parse_jid(_ctx: click.Context, param: click.Parameter, value: str | None) -> JID | None:
    if value is None:
        return None
    try:
        jid = JID(value)
    except InvalidJID as exc:
        raise click.BadParameter(f"{value!r} is not a valid JID ({exc})") from None
    if param.name == "jid" and not jid.user:
        raise click.BadParameter(f"{value!r} has no user part; log in as user@domain")
    return jid


def _parse_jid_list(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_parse_jid(ctx, param, value).bare for value in values)


def timeout_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--timeout", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True, help=help_text
    )


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that logs in shares."""
    options = [
        click.option(
            "-j", "--jid", envvar="XMPPEXT_JID", required=True, callback=_parse_jid, help="Log in as this JID."
        ),
        click.option(
            "-p",
            "--password",
            envvar="XMPPEXT_PASSWORD",
            help="Password (prefer XMPPEXT_PASSWORD or the prompt: a command line is visible to other users).",
        ),
        click.option("--host", envvar="XMPPEXT_HOST", help="Server address [default: the JID's domain, via DNS SRV]."),
        click.option("--port", envvar="XMPPEXT_PORT", type=click.IntRange(1, 65535), help="Client port (STARTTLS)."),
        click.option(
            "--ca-cert",
            envvar="XMPPEXT_CA_CERT",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Trust this CA certificate (PEM) for the server, e.g. a self-signed one.",
        ),
        click.option(
            "--insecure", is_flag=True, help="Do not verify the server's certificate (never on a real network)."
        ),
        click.option("-d", "--debug", "verbosity", flag_value=1, help="Log everything, passwords redacted."),
        click.option("-q", "--quiet", "verbosity", flag_value=-1, help="Only errors and the summary."),
    ]
    for option in reversed(options):
        function = option(function)

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["verbosity"] = kwargs.get("verbosity") or 0
        return function(**kwargs)

    return wrapper


def _settings(jid: JID, password: str | None, host: str | None, port: int | None, ca_cert: Path | None, insecure: bool):
    from xmpp_ext.client import ConnectionSettings
    from xmpp_ext.secret import Secret

    context = click.get_current_context()
    if password and context.get_parameter_source("password") is click.core.ParameterSource.COMMANDLINE:
        click.secho(
            "WARNING: a password on the command line is visible to every user of this machine (ps, /proc); "
            "prefer XMPPEXT_PASSWORD or the prompt",
            fg="yellow",
            err=True,
        )
    if not password:
        if not sys.stdin.isatty():
            raise click.UsageError(
                "no password: set XMPPEXT_PASSWORD, pass -p/--password, or run on a terminal to be prompted",
                ctx=context,
            )
        import getpass  # only on a terminal: every import counts in a one-shot's start-up

        password = getpass.getpass(f"Password for {jid.bare}: ")
    if insecure:
        click.secho("WARNING: --insecure: the server's TLS certificate is NOT verified", fg="red", err=True)
    return ConnectionSettings(
        jid=jid, password=Secret(password), host=host, port=port, ca_cert=ca_cert, insecure=insecure
    )


def _run(coroutine: Any) -> Any:
    """Run a job; its expected failures become one-line errors with their exit codes."""
    from xmpp_ext import patches
    from xmpp_ext.client import ConnectError
    from xmpp_ext.disco import DiscoError
    from xmpp_ext.sender import NotSupported, ResolveError

    patches.apply()
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        # asyncio.run has cancelled the job (which closed its session) before re-raising Ctrl-C.
        raise RunInterrupted("interrupted (SIGINT)") from None
    except ConnectError as exc:
        raise ConnectFailed(str(exc)) from None
    except (ResolveError, DiscoError, NotSupported) as exc:
        raise ExchangeFailed(str(exc)) from None


# -- send -----------------------------------------------------------------------------------------


def _parse_boolean(_ctx: click.Context, _param: click.Parameter, value: str | None) -> bool | None:
    from xmpp_ext.plugin import parse_boolean  # the same words the plugin reads; the Choice already vetted them

    return parse_boolean(value)


def _check_xml_text(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse, before connecting, text that XML cannot carry (the server would close the stream on it)."""
    from xmpp_ext.plugin import ExampleTagError, check_xml_text

    try:
        return None if value is None else check_xml_text(value)
    except ExampleTagError as exc:
        raise click.BadParameter(str(exc)) from None


def _parse_inner(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]):
    from xmpp_ext.sender import parse_inner

    try:
        return tuple(parse_inner(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command(epilog=EXIT_CODES_HELP)
@connection_options
@click.option("-t", "--to", "to", required=True, callback=_parse_jid, help="Peer JID: full, or bare to look it up.")
@click.option(
    "--kind", type=click.Choice(["iq", "message"]), help="Send one stanza of this kind instead of the scenario."
)
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="XML file holding the <example_tag/> [default: the bundled test_example_tag.xml].",
)
@click.option("--xml", help="The <example_tag/> as an XML string (with --kind).")
@click.option(
    "--boolean",
    type=click.Choice(["true", "false", "1", "0"], case_sensitive=False),
    metavar="true|false",
    callback=_parse_boolean,
    help="Set the boolean attribute (with --kind).",
)
@click.option("--some-string", callback=_check_xml_text, help="Set the some_string attribute (with --kind).")
@click.option("--text", callback=_check_xml_text, help="Set the element's text (with --kind).")
@click.option("--inner", multiple=True, callback=_parse_inner, help="Add NAME:K=V,... as an inner tag (repeatable).")
@click.option(
    "--iq-type", type=click.Choice(["get", "set"]), default="get", show_default=True, help="Type of the iq request."
)
@click.option("--no-reply", is_flag=True, help="Do not await a reply (messages only).")
@click.option("--repeat", type=click.IntRange(1), help="Send this many iqs (a burst).")
@click.option("--window", type=click.IntRange(1), default=1, show_default=True, help="Iqs awaiting a reply at once.")
@timeout_option("Seconds to wait for each reply.")
@click.option(
    "--check-support",
    is_flag=True,
    help="First ask the peer's disco#info; if it does not announce the extension, send nothing (exit 1).",
)
@click.option("--subscribe", is_flag=True, help="For a bare --to: ask for its presence (adds it to your roster).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per exchange, then a summary object.")
def send(**options: Any) -> None:
    """Send the example_tag extension to a peer and report every reply.

    By default runs the tutorial's seven exchanges in order: iq with
    boolean/some_string/text, iq with an inner tag, a message, iq from --path,
    iq from an element, iq without some_string (a bad-request error is the
    expected outcome), iq from a string.

    \b
    Examples:
      xmppext send -j me@example.net -t peer@example.net/xmppext
      xmppext send -j me@example.net -t peer@example.net/xmppext --kind iq --some-string hi
      xmppext send -j me@example.net -t peer@example.net/xmppext --kind message --path tag.xml
      xmppext send -j me@example.net -t peer@example.net/xmppext --repeat 1000 --window 32 --json
    """
    from xmpp_ext.plugin import ExampleTagError
    from xmpp_ext.sender import Step, custom_tag, tutorial_scenario

    tag_fields = ("xml", "boolean", "some_string", "text")
    kind = options["kind"] or ("iq" if options["repeat"] else None)
    if kind is None and (any(options[name] is not None for name in tag_fields) or options["inner"]):
        raise click.UsageError("--xml, --boolean, --some-string, --text and --inner need --kind")
    if options["path"] is not None and options["xml"] is not None:
        raise click.UsageError("--path and --xml both give the tag: choose one")
    if options["no_reply"] and kind != "message":
        raise click.UsageError("--no-reply is for --kind message (every iq gets a reply)")
    if options["repeat"] and kind != "iq":
        raise click.UsageError("--repeat sends iqs: use it with --kind iq")
    try:
        if kind is None:
            steps = tutorial_scenario(options["path"])
        else:
            tag = custom_tag(
                options["path"],
                options["xml"],
                options["boolean"],
                options["some_string"],
                options["text"],
                options["inner"],
            )
            steps = [Step(kind, kind, tag, itype=options["iq_type"], await_reply=not options["no_reply"])]
    except ExampleTagError as exc:
        source = next((name for name in ("path", "xml") if options[name] is not None), None)
        param = f"--{source}" if source else "--some-string/--text/--inner"
        raise click.BadParameter(str(exc), param_hint=param) from None

    settings = _settings(
        options["jid"], options["password"], options["host"], options["port"], options["ca_cert"], options["insecure"]
    )
    _configure_logging(options["verbosity"], settings)
    tally = _run(_send(settings, options, steps))
    if not tally.all_ok:
        sys.exit(EXIT_FAILED)


async def _send(settings, options: dict[str, Any], steps):
    """Presentation of the send job: one line (or JSON object) per exchange, a progress bar, the summary."""
    from xmpp_ext.report import Reporter, Status
    from xmpp_ext.sender import ConnectionLost, RunStopped, SendOptions, send

    burst = bool(options["repeat"])
    # A burst may print 100,000 lines: let stdout buffer them instead of flushing each.
    echo = (lambda line: sys.stdout.write(line + "\n")) if burst else click.echo
    reporter = Reporter(echo, as_json=options["as_json"], quiet=options["verbosity"] < 0)
    show_bar = burst and sys.stdout.isatty() and not options["as_json"] and options["verbosity"] >= 0
    job = SendOptions(
        to=options["to"],
        timeout=options["timeout"],
        repeat=options["repeat"],
        window=options["window"],
        subscribe=options["subscribe"],
        check_support=options["check_support"],
    )

    def resolved(bare, full) -> None:
        if not options["as_json"] and options["verbosity"] >= 0:
            click.echo(f"{bare} is online as {full}")

    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(click.progressbar(length=options["repeat"], label="sending")) if show_bar else None

        def exchanged(exchange) -> None:
            # In a burst only the exceptions are worth a line (or everything, as JSON).
            if not burst or options["as_json"] or exchange.status is not Status.OK:
                reporter.exchange(exchange)
            if bar is not None:
                bar.update(1)

        try:
            tally = await send(settings, job, steps, exchanged, resolved)
        except RunStopped as stopped:
            # The counts so far first, then why the run ended early (exit 3 or 130).
            reporter.summary(stopped.tally.summary())
            sys.stdout.flush()
            if isinstance(stopped, ConnectionLost):
                raise ConnectFailed(
                    f"connection to {settings.address} lost during the run ({stopped.reason}); "
                    f"{stopped.unsent} request(s) not sent"
                ) from None
            in_flight = "requests in flight counted as lost" if stopped.tally.sent else "before the first request"
            raise RunInterrupted(
                f"interrupted ({stopped.reason}): {in_flight}, {stopped.unsent} request(s) not sent"
            ) from None
    reporter.summary(tally.summary())
    sys.stdout.flush()
    return tally


def _configure_logging(verbosity: int, settings) -> None:
    from xmpp_ext.logs import configure_logging

    configure_logging(verbosity, [settings.password])


# -- respond --------------------------------------------------------------------------------------


@cli.command(epilog=EXIT_CODES_HELP)
@connection_options
@click.option(
    "--reply-string",
    default="Reply_string",
    show_default=True,
    callback=_check_xml_text,
    help="some_string of every answer.",
)
@click.option(
    "--allow",
    multiple=True,
    metavar="JID",
    callback=_parse_jid_list,
    help="Answer only this bare JID (repeatable); others get forbidden (iq) or nothing (message).",
)
@click.option(
    "--count", type=click.IntRange(1), help="Stop after answering this many stanzas (error replies included)."
)
@click.option("--for", "duration", type=click.FloatRange(0, min_open=True), help="Stop after this many seconds.")
@click.option(
    "--delay",
    type=click.FloatRange(0),
    default=0.0,
    help="Answer iqs only after this many seconds: a slow peer, to test senders.",
)
@click.option("--ready-fifo", type=click.Path(path_type=Path), hidden=True)
def respond(**options: Any) -> None:
    """Answer example_tag iqs and messages until stopped (Ctrl-C, SIGTERM, --count, --for).

    Logs in (resource "xmppext" unless -j has one), sends presence and prints
    "READY <full JID>". Iq get/set carrying the tag get a result carrying the
    tag; invalid ones a bad-request error. A message carrying the tag gets a
    message back naming it (XEP-0461 reply); replies are never answered.
    Reconnects with back-off when the connection drops, printing READY again.

    \b
    Examples:
      xmppext respond -j bot@example.net
      xmppext respond -j bot@example.net --allow me@example.net --count 7
    """
    from xmpp_ext.responder import DEFAULT_RESOURCE, RespondOptions
    from xmpp_ext.responder import respond as run_responder

    jid = options["jid"]
    if not jid.resource:
        jid = JID(f"{jid.bare}/{DEFAULT_RESOURCE}")
    settings = _settings(
        jid, options["password"], options["host"], options["port"], options["ca_cert"], options["insecure"]
    )
    _configure_logging(options["verbosity"], settings)
    respond_options = RespondOptions(
        reply_string=options["reply_string"],
        allow=frozenset(options["allow"]),
        count=options["count"],
        duration=options["duration"],
        ready_fifo=options["ready_fifo"],
        delay=options["delay"],
    )
    _run(run_responder(settings, respond_options, click.echo, verbose=options["verbosity"] >= 0))


# -- disco ----------------------------------------------------------------------------------------


@cli.command(epilog=EXIT_CODES_HELP.replace("every exchange ended as expected", "the target answered"))
@connection_options
@click.argument("words", nargs=-1, required=True, metavar="[info|items|identities|features|all] TARGET [NODE]")
@timeout_option("Seconds to wait for each answer.")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"identities", "features", "items"}.')
def disco(words: tuple[str, ...], timeout: float, as_json: bool, **connection: Any) -> None:
    """Browse an entity with service discovery (XEP-0030).

    Shows TARGET's identities (category/type name), features (sorted) and
    items (JID node name); `all` (the default) is info, then items. An error
    answer (unknown user, offline, unreachable server) is shown as its stanza
    error condition, exit 1.

    \b
    Examples:
      xmppext disco -j me@example.net example.net
      xmppext disco -j me@example.net features peer@example.net/xmppext
      xmppext disco -j me@example.net items example.net --json
    """
    from xmpp_ext.disco import QUERIES, format_listing

    query = words[0] if words[0] in QUERIES else "all"
    rest = words[1:] if words[0] in QUERIES else words
    if not 1 <= len(rest) <= 2:
        raise click.UsageError("expected [info|items|identities|features|all] TARGET [NODE]")
    target = _parse_jid(click.get_current_context(), click.Argument(["target"]), rest[0])
    node = rest[1] if len(rest) == 2 else None
    settings = _settings(**{key: connection[key] for key in ("jid", "password", "host", "port", "ca_cert", "insecure")})
    _configure_logging(connection["verbosity"], settings)
    result = _run(_disco(settings, target, query, node, timeout))
    if as_json:
        import json  # only for --json: every import counts in a one-shot's start-up

        click.echo(json.dumps(result.as_dict()))
    else:
        for line in format_listing(result):
            click.echo(line)


async def _disco(settings, target, query, node, timeout):
    from xmpp_ext.client import session
    from xmpp_ext.disco import discover

    async with session(settings) as client:
        return await discover(client, target, query, node, timeout)


# -- run-pair -------------------------------------------------------------------------------------


def _env_file_option(help_text: str) -> Callable[..., Any]:
    return click.option(
        "--env-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path(".env"),
        show_default=True,
        help=help_text,
    )


@cli.command("run-pair", epilog=EXIT_CODES_HELP)
@_env_file_option("Credentials (keys as in .env.example).")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path), help="XML file for the sender's file step.")
@click.option("-d", "--debug", "verbosity", flag_value=1, help="Debug logging in both clients.")
@click.option("-q", "--quiet", "verbosity", flag_value=-1, help="Only errors and summaries.")
@timeout_option("Seconds the sender waits for each reply.")
@click.option(
    "--ready-timeout",
    type=click.FloatRange(0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the responder's READY.",
)
@click.option("--terminal", metavar="PREFIX", help='Run each client in its own window, e.g. "xterm -e".')
@click.option("--local", is_flag=True, help="Run against a throwaway local server instead (no .env needed).")
@click.option(
    "--server",
    "server_kind",
    type=click.Choice(LOCAL_SERVERS),
    default="prosody",
    show_default=True,
    help="Which local server --local starts.",
)
def run_pair(
    env_file: Path,
    path: Path | None,
    verbosity: int | None,
    timeout: float,
    ready_timeout: float,
    terminal: str | None,
    local: bool,
    server_kind: str,
) -> None:
    """Run a responder and the sender's scenario against it, as two processes.

    Reads both accounts from ENV_FILE, starts `xmppext respond`, waits for its
    READY line, then runs `xmppext send` at it. Passwords reach the clients
    through their environment only. Output is interleaved line by line,
    prefixed [responder] and [sender]. The exit status is the sender's; both
    clients are always stopped at the end, on Ctrl-C and on SIGTERM.

    \b
    Examples:
      xmppext run-pair --local
      xmppext run-pair --env-file ~/.config/xmppext/.env --path my_tag.xml
    """
    from xmpp_ext.envfile import EnvFileError, exposure_warnings, read_env_file
    from xmpp_ext.pair import PairOptions

    if path is not None:
        _check_payload(path)
    options = PairOptions(
        path=path, verbosity=verbosity or 0, timeout=timeout, ready_timeout=ready_timeout, terminal=terminal
    )
    if local:
        status = _run_pair_locally(options, server_kind)
    else:
        try:
            credentials = read_env_file(env_file)
        except EnvFileError as exc:
            raise click.UsageError(str(exc)) from None
        for warning in exposure_warnings(env_file):
            click.secho(f"WARNING: {warning}", fg="yellow", err=True)
        status, _pair = _run_pair(credentials, options)
    sys.exit(status)


def _check_payload(path: Path) -> None:
    """Refuse a bad --path before any process starts."""
    from xmpp_ext.plugin import ExampleTag, ExampleTagError

    try:
        ExampleTag().setup_from_file(path)
    except ExampleTagError as exc:
        raise click.BadParameter(str(exc), param_hint="--path") from None


def _run_pair(credentials, options):
    from xmpp_ext.pair import Pair, PairError

    pair = Pair(credentials, options, click.echo)
    try:
        return asyncio.run(pair.run()), pair
    except PairError as exc:
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code, pair


def _run_pair_locally(options, kind: str) -> int:
    server, credentials = _start_pair_server(kind)
    try:
        click.echo(f"local {server.kind} on {server.host}:{server.port}, TLS verified with a fresh CA")
        status, pair = _run_pair(credentials, options)
    finally:
        server.stop()
    _print_table(pair.exchanges, pair.summary)
    click.echo(f"local server stopped; exit status {status}")
    return status


def _start_pair_server(kind: str):
    """A throwaway server with a sender and a responder account, and their credentials."""
    from xmpp_ext.envfile import PairCredentials
    from xmpp_ext.localserver import ServerFailed, ServerNotInstalled, start_server

    try:
        server = start_server(kind, accounts=("sender", "responder"))
    except (ServerNotInstalled, ServerFailed) as exc:
        raise click.ClickException(str(exc)) from None
    sender, responder = server.accounts
    credentials = PairCredentials(
        sender_jid=sender.jid,
        sender_password=sender.password,
        responder_jid=responder.jid,
        responder_password=responder.password,
        host=server.host,
        port=server.port,
        ca_cert=server.ca_cert.resolve(),
    )
    return server, credentials


def _print_table(exchanges, summary) -> None:
    if not exchanges or summary is None:
        return
    click.echo("")
    click.echo(f"{'exchange':<24} {'outcome':<8} {'latency':>10}")
    for exchange in exchanges:
        latency = "-" if exchange.latency is None else f"{exchange.latency * 1000:.1f} ms"
        click.echo(f"{exchange.name:<24} {exchange.status!s:<8} {latency:>10}")
    click.echo(f"{summary['sent']} sent, {summary['ok']} ok, {summary['failed']} failed, {summary['lost']} lost")


# -- local-server ---------------------------------------------------------------------------------


@cli.command("local-server")
@_env_file_option("Where to write the credentials for the server's two accounts (mode 600).")
@click.option("--server", "kind", type=click.Choice(LOCAL_SERVERS), default="prosody", show_default=True)
def local_server(env_file: Path, kind: str) -> None:
    """Run a throwaway XMPP server on 127.0.0.1 until Ctrl-C.

    It has a fresh certificate authority and two accounts with random
    passwords, written to ENV_FILE for `xmppext run-pair`. Stopping it removes
    the server, its data and the certificate; the .env then points nowhere.
    """
    from xmpp_ext.envfile import write_env_file

    server, credentials = _start_pair_server(kind)
    try:
        write_env_file(env_file, credentials)
        click.echo(f"{kind} listening on {server.host}:{server.port} for domain {server.domain}")
        click.echo(f"accounts: {credentials.sender_jid} (sender), {credentials.responder_jid} (responder)")
        click.echo(f"CA certificate: {server.ca_cert}")
        click.echo(f"credentials written to {env_file}; press Ctrl-C to stop")
        _wait_for_stop_signal()
    finally:
        server.stop()
        click.echo("server stopped", err=True)


def _wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        signal.sigwait(stop_signals)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def main() -> None:
    cli(prog_name="xmppext")
