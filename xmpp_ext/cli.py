"""The ``xmppext`` command: parsing and presentation only; the jobs live in their own modules."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from xmpp_ext import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xmppext")
def cli() -> None:
    """Build, send, answer and inspect the example_tag XMPP extension."""


@cli.command("local-server")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="Where to write the credentials for the server's two accounts (mode 600).",
)
@click.option("--server", "kind", type=click.Choice(["prosody"]), default="prosody", show_default=True)
def local_server(env_file: Path, kind: str) -> None:
    """Run a throwaway XMPP server on 127.0.0.1 until Ctrl-C.

    It has a fresh certificate authority and two accounts with random
    passwords, written to ENV_FILE for `xmppext run-pair`. Stopping it removes
    the server, its data and the certificate; the .env then points nowhere.
    """
    from xmpp_ext.envfile import PairCredentials, write_env_file
    from xmpp_ext.localserver import ServerFailed, ServerNotInstalled, start_server

    try:
        server = start_server(kind, accounts=("sender", "responder"))
    except (ServerNotInstalled, ServerFailed) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        sender, responder = server.accounts
        write_env_file(
            env_file,
            PairCredentials(
                sender_jid=sender.jid,
                sender_password=sender.password,
                responder_jid=responder.jid,
                responder_password=responder.password,
                host=server.host,
                port=server.port,
                ca_cert=server.ca_cert.resolve(),
            ),
        )
        click.echo(f"{kind} listening on {server.host}:{server.port} for domain {server.domain}")
        click.echo(f"accounts: {sender.jid} (sender), {responder.jid} (responder)")
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
