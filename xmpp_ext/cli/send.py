"""``xmppext send``: the tutorial's exchanges, one stanza, or a burst, every reply reported."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
from slixmpp import JID

from xmpp_ext.cli.options import (
    MAX_WINDOW,
    BooleanWord,
    InnerTag,
    JidType,
    Login,
    XmlText,
    check_one_payload_source,
    configure_logging,
    connection_options,
    timeout_option,
    verbosity_options,
)
from xmpp_ext.cli.outcome import CommandFailed, Stopped, exit_code_for_run, run_job
from xmpp_ext.util.exitcodes import ExitCode, help_epilog

EPILOG = help_epilog(
    connect="could not connect, TLS not trusted, authentication failed, or the connection was lost and no "
    "session came back within --timeout (with stream management a cut is resumed and the run goes on)",
    interrupted="interrupted by Ctrl-C or SIGTERM: the summary is printed, requests in flight counted as lost",
)


@click.command(epilog=EPILOG)
@connection_options
@verbosity_options
@click.option("-t", "--to", "to", required=True, type=JidType(), help="Peer JID: full, or bare to look it up.")
@click.option(
    "--kind", type=click.Choice(["iq", "message"]), help="Send one stanza of this kind instead of the scenario."
)
@click.option(
    "--raw",
    is_flag=True,
    help="Send any extension: --xml, --path or --path - give the payload element (in its own namespace), "
    "sent in an iq (or --kind message); the reply is printed as it came.",
)
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="XML file holding the <example_tag/> (with --raw: the payload), or - for standard input (at most 64 KiB "
    "either way) [default: the bundled test_example_tag.xml].",
)
@click.option("--xml", help="The <example_tag/> as an XML string (with --kind), or with --raw the payload.")
@click.option(
    "--boolean",
    type=BooleanWord(),
    metavar="true|false",
    help="Set the boolean attribute (with --kind; on top of --path, --xml or the bundled tag).",
)
@click.option(
    "--some-string", type=XmlText(), help="Set the some_string attribute (with --kind; on top of the tag as above)."
)
@click.option("--text", type=XmlText(), help="Set the element's text (with --kind; on top of the tag as above).")
@click.option("--inner", multiple=True, type=InnerTag(), help="Add NAME:K=V,... as an inner tag (repeatable).")
@click.option(
    "--iq-type", type=click.Choice(["get", "set"]), default="get", show_default=True, help="Type of the iq request."
)
@click.option("--no-reply", is_flag=True, help="Do not await a reply (messages only).")
@click.option("--repeat", type=click.IntRange(1, 10_000_000), help="Send this many iqs (a burst).")
@click.option(
    "--window",
    type=click.IntRange(1, MAX_WINDOW),
    default=1,
    show_default=True,
    help="Iqs awaiting a reply at once (with --repeat).",
)
@timeout_option("Seconds to wait for each reply.")
@click.option(
    "--check-support",
    "check_support",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[NAMESPACE]",
    help="First ask the peer's disco#info; if it does not announce NAMESPACE (without one: the payload's "
    "namespace, example_tag's without --raw), send nothing (exit 1).",
)
@click.option("--subscribe", is_flag=True, help="For a bare --to: ask for its presence (adds it to your roster).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per exchange, then a summary object.")
@click.option(
    "--no-stream-management",
    "no_stream_management",
    is_flag=True,
    help="Do not use XEP-0198 (acks, resuming after a cut) even if the server offers it.",
)
def command(
    login: Login,
    verbosity: int,
    to: JID,
    kind: str | None,
    raw: bool,
    path: Path | None,
    xml: str | None,
    boolean: bool | None,
    some_string: str | None,
    text: str | None,
    inner: tuple[tuple[str, dict[str, str]], ...],
    iq_type: str,
    no_reply: bool,
    repeat: int | None,
    window: int,
    timeout: float,
    check_support: str | None,
    subscribe: bool,
    as_json: bool,
    no_stream_management: bool,
) -> None:
    """Send the example_tag extension to a peer and report every reply.

    By default runs the tutorial's seven exchanges in order: iq with
    boolean/some_string/text, iq with an inner tag, a message, iq from --path,
    iq from an element, iq without some_string (a bad-request error is the
    expected outcome), iq from a string.

    With --raw, sends any extension's payload (from --xml, --path or stdin)
    in an iq get/set or a message and prints the reply: a result is exit 0,
    an error reply or no reply within --timeout exit 1.

    \b
    Examples:
      xmppext send -j me@example.net -t peer@example.net/xmppext
      xmppext send -j me@example.net -t peer@example.net/xmppext --kind iq --some-string hi
      xmppext send -j me@example.net -t peer@example.net/xmppext --kind message --path tag.xml
      xmppext send -j me@example.net -t peer@example.net/xmppext --repeat 1000 --window 32 --json
      xmppext send -j me@example.net -t bot@example.net/bot --raw --check-support \\
          --xml '<greeting xmlns="urn:example:greeting" language="en"/>'
    """
    from xmpp_ext.jobs.send import SendOptions
    from xmpp_ext.plugin import NAMESPACE

    context = click.get_current_context()
    if not repeat and context.get_parameter_source("window") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--window is the number of requests in flight in a burst: use it with --repeat")
    if kind == "message" and context.get_parameter_source("iq_type") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--iq-type is the type of an iq request: not with --kind message")
    if raw and subscribe:
        raise click.UsageError("--raw sends to -t as given (no look-up of a bare JID's resources): no --subscribe")
    if raw:
        steps = _raw_steps(kind or "iq", path, xml, iq_type, no_reply, to, (boolean, some_string, text, *inner), repeat)
        # Without a namespace of its own, --check-support (and a bare --to's look-up) asks for the payload's.
        feature = check_support or steps[0].payload.tag[1:].partition("}")[0]
    else:
        steps = _example_tag_steps(kind, path, xml, boolean, some_string, text, inner, iq_type, no_reply, repeat, to)
        feature = check_support or NAMESPACE
    job = SendOptions(
        to=to,
        timeout=timeout,
        repeat=repeat,
        window=window,
        subscribe=subscribe,
        check_support=check_support is not None,
        feature=feature,
        # --raw addresses -t as given: an iq to a bare JID is the server's to answer for the account.
        resolve_bare=not raw,
        stream_management=not no_stream_management,
    )
    settings = login.settings()
    configure_logging(verbosity, settings)
    try:
        result = run_job(_present(settings, job, steps, as_json=as_json, quiet=verbosity < 0))
    except CommandFailed as exc:
        if as_json:  # whoever reads the JSON lines hears why there are none (the same line goes to stderr)
            from xmpp_ext.jobs.jsonlines import error_line

            click.echo(error_line(exc.format_message(), exc.exit_code))
        raise
    code = exit_code_for_run(result)
    if result.stop is not None:
        if code is ExitCode.CONNECT:
            raise CommandFailed(
                f"connection to {settings.address} lost during the run ({result.stop.reason}); "
                f"{result.stop.unsent} unsent",
                code,
            )
        in_flight = "requests in flight counted as lost" if result.tally.sent else "before the first request"
        raise Stopped(f"interrupted ({result.stop.reason}): {in_flight}, {result.stop.unsent} unsent")
    if code is not ExitCode.OK:
        sys.exit(code)


def _example_tag_steps(kind, path, xml, boolean, some_string, text, inner, iq_type, no_reply, repeat, to):
    """The tutorial's steps, or one custom example_tag stanza; read and checked (nothing sent on bad input)."""
    from xmpp_ext.jobs.send import Step, check_stanza_sizes, custom_tag, read_tag_source, tutorial_scenario
    from xmpp_ext.plugin import ExampleTagError

    kind = kind or ("iq" if repeat else None)
    if kind is None and (any(value is not None for value in (xml, boolean, some_string, text)) or inner):
        raise click.UsageError("--xml, --boolean, --some-string, --text and --inner need --kind")
    if path is not None and xml is not None:
        raise click.UsageError("--path and --xml both give the tag: choose one")
    if no_reply and kind != "message":
        raise click.UsageError("--no-reply is for --kind message (every iq gets a reply)")
    if repeat and kind != "iq":
        raise click.UsageError("--repeat sends iqs: use it with --kind iq")
    try:
        file_tag = read_tag_source(path, sys.stdin.buffer) if path is not None else None
        if kind is None:
            steps = tutorial_scenario(path, file_tag)
        else:
            tag = custom_tag(path, xml, boolean, some_string, text, inner, file_tag)
            steps = [Step(kind, kind, tag, itype=iq_type, await_reply=not no_reply)]
        check_stanza_sizes(steps, to)
    except ExampleTagError as exc:
        source = "--path" if path is not None else "--xml" if xml is not None else "--some-string/--text/--inner"
        raise click.BadParameter(str(exc), param_hint=source) from None
    return steps


def _raw_steps(kind, path, xml, iq_type, no_reply, to, tag_fields, repeat):
    """The one stanza --raw sends, its payload read and checked (nothing sent on bad input)."""
    from xmpp_ext.jobs.send import check_stanza_sizes
    from xmpp_ext.jobs.send.raw import raw_step, read_raw_payload
    from xmpp_ext.plugin import ExampleTagError

    if any(value is not None for value in tag_fields):
        raise click.UsageError("--boolean, --some-string, --text and --inner build example_tag: not with --raw")
    if repeat:
        raise click.UsageError("--repeat sends example_tag bursts: not with --raw")
    check_one_payload_source(path, xml)
    if no_reply and kind != "message":
        raise click.UsageError("--no-reply is for --kind message (every iq gets a reply)")
    try:
        steps = [raw_step(kind, read_raw_payload(path, xml, sys.stdin.buffer), iq_type, not no_reply)]
        check_stanza_sizes(steps, to)
    except ExampleTagError as exc:
        raise click.BadParameter(str(exc), param_hint="--path" if path is not None else "--xml") from None
    return steps


async def _present(settings, job, steps, as_json: bool, quiet: bool):
    """Run the send job, showing one line (or JSON object) per exchange, a progress bar, then the summary."""
    from xmpp_ext.jobs.outcomes import Status
    from xmpp_ext.jobs.report import Reporter
    from xmpp_ext.jobs.send import send

    burst = bool(job.repeat)
    show_bar = burst and sys.stdout.isatty() and not as_json and not quiet
    bar = None

    def echo(line: str) -> None:
        if bar is not None:  # the line replaces the bar, which is drawn again below it
            sys.stdout.write("\r\x1b[K")
        # A burst may print 100,000 lines: let stdout buffer them instead of flushing each.
        if burst:
            sys.stdout.write(line + "\n")
        else:
            click.echo(line)
        if bar is not None:
            bar.render_progress()

    reporter = Reporter(echo, as_json=as_json, quiet=quiet)
    cut_short: list[str] = []  # details of in-flight requests ended by a stop: one line for them all

    def resolved(bare, full) -> None:
        if not as_json and not quiet:
            click.echo(f"{bare} is online as {full}")

    with contextlib.ExitStack() as stack:
        if show_bar:
            bar = stack.enter_context(click.progressbar(length=job.repeat, label="sending"))

        def exchanged(exchange) -> None:
            # Requests in flight when a burst is cut short all end alike: one line for them all.
            stopped_in_flight = exchange.ended_by_stop
            if burst and not as_json and stopped_in_flight:
                cut_short.append(exchange.detail)
                return
            # In a burst only the exceptions are worth a line (or everything, as JSON).
            if not burst or as_json or exchange.status is not Status.OK:
                reporter.exchange(exchange)
            if bar is not None:
                bar.update(1)

        result = await send(settings, job, steps, exchanged, resolved, reporter.event)
    if cut_short:
        echo(f"{len(cut_short)} request(s) in flight counted as lost: {cut_short[0]}")
    reporter.summary(result.tally.summary())
    sys.stdout.flush()
    return result
