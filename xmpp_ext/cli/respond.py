"""``xmppext respond``: answer example_tag requests and messages until stopped."""

from __future__ import annotations

import stat
from pathlib import Path

import click

from xmpp_ext.cli.options import (
    JidType,
    Login,
    Seconds,
    XmlText,
    configure_logging,
    connection_options,
    verbosity_options,
)
from xmpp_ext.cli.outcome import run_job
from xmpp_ext.util.exitcodes import ExitCode, help_epilog

EPILOG = help_epilog(
    ExitCode.OK,
    ExitCode.BAD_INPUT,
    ExitCode.CONNECT,
    ok="stopped as asked: Ctrl-C, SIGTERM, --count or --for",
    connect="could not connect or log in, or another client logged in with the same full JID",
)


#: Bytes --reply-string may take on the wire: it appears twice in a message reply, and every reply must stay
#: far below the 10,000 bytes each server accepts (RFC 6120 §13.12), whatever the request brings along.
MAX_REPLY_STRING_BYTES = 1024


def _reply_string(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from xmpp_ext.plugin.wire import quoteattr

    size = len(quoteattr(value).encode()) - 2
    if size > MAX_REPLY_STRING_BYTES:
        raise click.BadParameter(f"{size} bytes once written as XML; at most {MAX_REPLY_STRING_BYTES}")
    return value


def _fifo(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """--ready-fifo must be a FIFO: writing READY into a regular file would overwrite its first bytes."""
    if value is not None:
        try:
            is_fifo = stat.S_ISFIFO(value.stat().st_mode)
        except OSError as exc:
            raise click.BadParameter(f"{value}: {exc.strerror or exc}") from None
        if not is_fifo:
            raise click.BadParameter(f"{value} is not a FIFO (made with mkfifo)")
    return value


@click.command(epilog=EPILOG)
@connection_options
@verbosity_options
@click.option(
    "--reply-string",
    default="Reply_string",
    show_default=True,
    type=XmlText(),
    callback=_reply_string,
    help="some_string of every answer (at most 1024 bytes as written).",
)
@click.option(
    "--allow",
    multiple=True,
    metavar="JID",
    type=JidType(),
    help="Answer only this bare JID (repeatable); others get forbidden (iq) or nothing (message).",
)
@click.option(
    "--count", type=click.IntRange(1), help="Stop after answering this many stanzas (error replies included)."
)
@click.option("--for", "duration", type=Seconds(maximum=7 * 86400), help="Stop after this many seconds.")
@click.option(
    "--delay",
    type=Seconds(maximum=600, allow_zero=True),
    default=0.0,
    help="Answer iqs only after this many seconds: a slow peer, to test senders.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="A line for every exchange (by default at most 20 a second, then counts) and what each request carried.",
)
@click.option(
    "--no-stream-management",
    "no_stream_management",
    is_flag=True,
    help="Do not use XEP-0198 (acks, resuming after a cut) even if the server offers it.",
)
@click.option(
    "--plugin",
    "plugin_spec",
    metavar="MODULE:CLASS",
    help="Answer with your own slixmpp plugin (a BasePlugin subclass importable from the current directory or "
    "sys.path) instead of example_tag's answers; --allow, --count, --for and the reply size limit still apply.",
)
@click.option("--ready-fifo", type=click.Path(path_type=Path), callback=_fifo, hidden=True)
def command(
    login: Login,
    verbosity: int,
    reply_string: str,
    allow: tuple,
    count: int | None,
    duration: float | None,
    delay: float,
    verbose: bool,
    no_stream_management: bool,
    plugin_spec: str | None,
    ready_fifo: Path | None,
) -> None:
    """Answer example_tag iqs and messages until stopped (Ctrl-C, SIGTERM, --count, --for).

    Logs in (resource "xmppext" unless -j has one), sends presence and prints
    "READY <full JID>". Iq get/set carrying the tag get a result carrying the
    tag; invalid ones a bad-request error. A message carrying the tag gets a
    message back naming it (XEP-0461 reply); replies are never answered.
    Reconnects with back-off when the connection drops: with stream management
    (XEP-0198, used when the server offers it) the session is resumed
    ("RESUMED <full JID> ...") and requests queued meanwhile are answered once;
    otherwise it logs in anew, printing READY again.

    With --plugin, your own slixmpp plugin answers: it registers its handlers
    and decides every answer; the responder still refuses senders outside
    --allow before the plugin sees them, counts and prints every answer, and
    keeps answers within the size the server accepts.

    \b
    Examples:
      xmppext respond -j bot@example.net
      xmppext respond -j bot@example.net --allow me@example.net --count 7
      xmppext respond -j bot@example.net --plugin bot:GreetingResponder
    """
    from slixmpp import JID

    from xmpp_ext.jobs.respond import DEFAULT_RESOURCE, RespondOptions

    plugin = None
    if plugin_spec is not None:
        plugin = _load_plugin(plugin_spec, click.get_current_context())
    jid = login.jid if login.jid.resource else JID(f"{login.jid.bare}/{DEFAULT_RESOURCE}")
    options = RespondOptions(
        reply_string=reply_string,
        allow=frozenset(jid.bare for jid in allow),
        count=count,
        duration=duration,
        ready_fifo=ready_fifo,
        delay=delay,
        stream_management=not no_stream_management,
        plugin=plugin,
    )
    settings = login.settings(jid)
    configure_logging(verbosity, settings)
    if verbose and verbosity < 0:
        raise click.UsageError("-v/--verbose and -q/--quiet contradict each other: choose one")
    run_job(_answer(settings, options, verbose=verbosity >= 0, every_line=verbose))


def _load_plugin(spec: str, context: click.Context) -> str:
    """Import the user's plugin and register it; its name. Exit 2 in one line when it cannot be loaded."""
    from xmpp_ext.session.userplugin import PluginLoadError, load_plugin

    typed = [
        f"--{name.replace('_', '-')}"
        for name in ("reply_string", "delay")
        if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    ]
    if typed:
        verb = "shape" if len(typed) > 1 else "shapes"
        raise click.UsageError(f"{' and '.join(typed)} {verb} example_tag's answers: with --plugin, the plugin answers")
    try:
        return load_plugin(spec).name
    except PluginLoadError as exc:
        raise click.BadParameter(str(exc), param_hint="--plugin") from None


async def _answer(settings, options, verbose: bool, every_line: bool) -> int:
    """Run the respond job, one line per record (exchange lines budgeted unless -v)."""
    import asyncio

    from xmpp_ext.jobs.respond import RespondLines, respond

    lines = RespondLines(click.echo, asyncio.get_running_loop(), verbose=verbose, every_line=every_line)
    return await respond(settings, options, lines.record, show_received=every_line)
