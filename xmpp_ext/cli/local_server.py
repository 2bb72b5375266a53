"""``xmppext local-server``: a throwaway XMPP server on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from xmpp_ext.cli.options import env_file_option, server_option
from xmpp_ext.util.exitcodes import ExitCode, help_epilog

EPILOG = help_epilog(
    ExitCode.OK,
    ExitCode.BAD_INPUT,
    ExitCode.CONNECT,
    ExitCode.INTERRUPTED,
    ok="stopped by Ctrl-C or SIGTERM; the server and its files are gone",
    bad_input="bad usage, or an --env-file it may not replace",
    connect="the server is not installed or did not start",
    interrupted="interrupted while the server was starting (it is stopped again)",
)


@click.command(epilog=EPILOG)
@env_file_option("Where to write the credentials for the server's two accounts (mode 600).")
@server_option()
def command(env_file: Path, server_kind: str) -> None:
    """Run a throwaway XMPP server on 127.0.0.1 until Ctrl-C.

    It has a fresh certificate authority and two accounts with random
    passwords, written to ENV_FILE for `xmppext run-pair`. Stopping it removes
    the server, its data and the certificate; the .env then points nowhere.
    """
    from xmpp_ext.cli.local import check_env_file, env_file_argument, how_to_call_xmppext, start_pair_server
    from xmpp_ext.jobs.respond import DEFAULT_RESOURCE
    from xmpp_ext.util.envfile import EnvFileError, write_env_file

    check_env_file(env_file)
    server, credentials = start_pair_server(server_kind)
    try:
        try:
            write_env_file(env_file, credentials)
        except EnvFileError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"{server_kind} listening on {server.host}:{server.port} for domain {server.domain}")
        click.echo(f"direct TLS (XEP-0368, --direct-tls) on port {server.direct_tls_port}")
        click.echo(f"accounts: {credentials.sender_jid} (sender), {credentials.responder_jid} (responder)")
        click.echo(f"CA certificate: {server.ca_cert}")
        click.echo(f"credentials written to {env_file}; in two other terminals:")
        file_option = env_file_argument(env_file)
        program = how_to_call_xmppext()
        click.echo(f"  {program} respond --as responder{file_option}")
        click.echo(f"  {program} send --as sender{file_option} -t {credentials.responder_jid}/{DEFAULT_RESOURCE}")
        click.echo("press Ctrl-C to stop")
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
