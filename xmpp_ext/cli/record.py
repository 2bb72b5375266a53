"""``xmppext record OUT.scs``: record what clients do on a throwaway server, as a script that replays.

Parsing and presentation only: the server comes from cli/local.py, the
recording from xmpp_ext.record (see its docstring for how and why), the
script from xmpp_ext.record.normalise.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

from xmpp_ext.cli.options import env_file_option, server_option
from xmpp_ext.util.exitcodes import ExitCode, help_epilog

DEFAULT_ACCOUNTS = 3
MAX_ACCOUNTS = 10

EPILOG = help_epilog(
    ExitCode.OK,
    ExitCode.FAILED,
    ExitCode.BAD_INPUT,
    ExitCode.CONNECT,
    ExitCode.INTERRUPTED,
    ok="stopped by Ctrl-C or SIGTERM, and the script was written",
    failed="nothing recorded (no client logged in), or the script could not be written or is too large to replay",
    bad_input="bad usage, OUT exists (without --force), or an --env-file it may not replace",
    connect="the server is not installed or did not start, or the recorder could not listen",
    interrupted="interrupted while the server was starting (it is stopped again)",
)


def account_names(count: int) -> tuple[str, ...]:
    """sender, responder (the .env's pair), then account3, account4..."""
    return ("sender", "responder", *(f"account{number}" for number in range(3, count + 1)))


@click.command(epilog=EPILOG)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option(
    "--accounts",
    "count",
    type=click.IntRange(2, MAX_ACCOUNTS),
    default=DEFAULT_ACCOUNTS,
    show_default=True,
    help="How many accounts to create: sender, responder, account3, ...",
)
@env_file_option("Where to write the accounts' credentials (mode 600), as local-server does.")
@server_option()
def command(out: Path, force: bool, count: int, env_file: Path, server_kind: str) -> None:
    """Record every stanza clients exchange with a throwaway server, then write OUT as a Scansion script.

    \b
    Starts a local server (as local-server does) behind a recorder that any
    client logs in through: the accounts' credentials go to ENV_FILE, so
    `xmppext send --as sender`, `respond --as responder` or any other client
    (trusting the printed CA) can log in. Ctrl-C or SIGTERM ends the
    recording; the script is written to OUT, ready for
    `xmppext scenario --local --server all OUT`.
    """
    from xmpp_ext.cli.local import check_env_file, start_local_server
    from xmpp_ext.cli.outcome import Stopped
    from xmpp_ext.record.scriptfile import problem_writing
    from xmpp_ext.util.stopsignals import forget_interrupted_frames, sigterm_as_ctrl_c, stop_signals_ignored

    problem = problem_writing(out, force)
    if problem:
        raise click.UsageError(problem)
    check_env_file(env_file)
    server, credentials = start_local_server(server_kind, account_names(count))
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    try:
        # Ctrl-C and SIGTERM end the recording inside it; outside (an instant on either side) they interrupt.
        with sigterm_as_ctrl_c():
            outcome = _record(server, credentials, env_file)
    except KeyboardInterrupt as interrupt:
        forget_interrupted_frames(interrupt)
        raise Stopped("interrupted before the recording started; nothing written") from None
    finally:
        with stop_signals_ignored():
            server.stop()
        click.echo("server stopped", err=True)
    # The user asked to stop: what was recorded is written whatever signal comes now.
    with stop_signals_ignored():
        code = _write(outcome, server_kind, credentials, out, force, started)
    click.get_current_context().exit(code)


def _record(server, credentials, env_file: Path):
    from xmpp_ext.cli.outcome import CommandFailed
    from xmpp_ext.record.run import record_until_stopped
    from xmpp_ext.util.display import printable

    def listening(proxy) -> None:
        _announce(server, proxy, credentials, env_file)

    def on_session(step) -> None:
        # Shown as it happens, so the user sees which clients are being recorded.
        click.echo(f"{'connected' if step.kind == 'connects' else 'disconnected'}: {printable(step.session.jid)}")

    try:
        return asyncio.run(record_until_stopped(server, listening, on_session))
    except OSError as exc:
        message = f"the recorder cannot listen on 127.0.0.1: {exc.strerror or exc}"
        raise CommandFailed(message, ExitCode.CONNECT) from None


def _announce(server, proxy, credentials, env_file: Path) -> None:
    """Write the .env (pointing at the recorder) and tell the user how to log in."""
    from dataclasses import replace

    from xmpp_ext.cli.local import env_file_argument, how_to_call_xmppext
    from xmpp_ext.jobs.respond import DEFAULT_RESOURCE
    from xmpp_ext.util.envfile import EnvFileError, write_env_file

    credentials = replace(credentials, host=proxy.host, port=proxy.port)
    try:
        write_env_file(env_file, credentials)
    except EnvFileError as exc:
        raise click.UsageError(str(exc)) from None
    jids = [credentials.sender_jid, credentials.responder_jid, *(jid for jid, _ in credentials.others)]
    click.echo(f"{server.kind} for domain {server.domain}, recording clients that log in on {proxy.host}:{proxy.port}")
    click.echo(f"direct TLS (XEP-0368, --direct-tls) on port {proxy.direct_tls_port}")
    click.echo(f"accounts: {', '.join(jids)} (passwords in {env_file})")
    click.echo(f"CA certificate: {server.ca_cert}")
    file_option = env_file_argument(env_file)
    program = how_to_call_xmppext()
    click.echo(f"credentials written to {env_file}; log in with any client, e.g. in two other terminals:")
    click.echo(f"  {program} respond --as responder{file_option}")
    click.echo(f"  {program} send --as sender{file_option} -t {credentials.responder_jid}/{DEFAULT_RESOURCE}")
    click.echo("recording; press Ctrl-C to stop and write the script")


def _write(outcome, server_kind: str, credentials, out: Path, force: bool, started: str) -> ExitCode:
    from xmpp_ext.record.normalise import normalise
    from xmpp_ext.record.scriptfile import write_script
    from xmpp_ext.scenario.script import MAX_SCRIPT_BYTES, ScriptError, parse

    for problem in outcome.problems:
        click.echo(f"note: {problem}", err=True)
    recording = outcome.recording
    if not recording.sessions:
        click.echo(f"nothing recorded: no client logged in; {out} not written", err=True)
        return ExitCode.FAILED
    accounts = [credentials.sender_jid, credentials.responder_jid, *(jid for jid, _ in credentials.others)]
    passwords = [credentials.sender_password, credentials.responder_password, *(pw for _, pw in credentials.others)]
    header = [
        f"# {out.stem}: recorded with xmppext record",
        f"# Recorded on {server_kind} on {started}. Replay: xmppext scenario --local --server all {out.name}",
        "## recorded",
    ]
    script = normalise(recording, accounts, passwords, header)
    for note in script.notes:
        click.echo(f"note: {note}", err=True)
    try:
        written = write_script(out, script.text, force)
    except OSError as exc:
        click.echo(f"Error: cannot write {out}: {exc.strerror or exc}", err=True)
        return ExitCode.FAILED
    if written != out:
        click.echo(f"note: {out} appeared while recording; the script went to {written} instead", err=True)
    stanzas = sum(step.stanza is not None for step in recording.steps)
    click.echo(
        f"recorded {len(recording.sessions)} session(s), {stanzas} stanza(s): wrote {written} "
        f"(clients {', '.join(script.clients)})"
    )
    try:
        parse(script.text, written)
    except ScriptError as exc:
        click.echo(f"Error: the script written does not parse ({exc}); please report this", err=True)
        return ExitCode.FAILED
    if len(script.text.encode()) > MAX_SCRIPT_BYTES:
        click.echo(
            f"Error: {written} is larger than the {MAX_SCRIPT_BYTES} bytes `xmppext scenario` reads: "
            "cut it down, or record a shorter session",
            err=True,
        )
        return ExitCode.FAILED
    click.echo(f"replay it: xmppext scenario --local --server all {written}")
    return ExitCode.OK
