"""A throwaway local server for a command (run-pair --local, local-server, record), its failures as exit codes.

Also what local-server and record share around it: the checks before a
``.env`` is written, and how to tell the user to call xmppext.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

from xmpp_ext.cli.outcome import CommandFailed, Stopped
from xmpp_ext.util.exitcodes import ExitCode
from xmpp_ext.util.stopsignals import sigterm_as_ctrl_c

PAIR_ACCOUNTS = ("sender", "responder")


def start_pair_server(kind: str, nodes: int = 1):
    """A throwaway server with a sender and a responder account, and their credentials."""
    return start_local_server(kind, PAIR_ACCOUNTS, nodes)


def start_local_server(kind: str, localparts: tuple[str, ...], nodes: int = 1):
    """A throwaway server with these accounts (the first two are the .env's sender and responder).

    Returns the server and the credentials for its .env; the others are
    written there as ``<LOCALPART>_JID`` / ``<LOCALPART>_PASSWORD``. With
    ``nodes`` > 1, an ejabberd cluster: the .env's port is the first node's
    (the sender's home; the responder's is the second node, see servers/cluster.py).
    """
    from xmpp_ext.servers import ServerFailed, ServerNotInstalled, start_server
    from xmpp_ext.util.envfile import PairCredentials

    try:
        with sigterm_as_ctrl_c():
            server = start_server(kind, accounts=localparts, nodes=nodes)
    except (ServerNotInstalled, ServerFailed) as exc:
        raise CommandFailed(str(exc), ExitCode.CONNECT) from None
    except KeyboardInterrupt:
        raise Stopped(f"interrupted while starting {kind}") from None
    sender, responder, *others = server.accounts
    credentials = PairCredentials(
        sender_jid=sender.jid,
        sender_password=sender.password,
        responder_jid=responder.jid,
        responder_password=responder.password,
        host=server.host,
        port=server.port,
        ca_cert=server.ca_cert.resolve(),
        others=tuple((account.jid, account.password) for account in others),
        responder_port=server.settings_for(responder).port if nodes > 1 else None,
    )
    return server, credentials


def check_env_file(env_file: Path) -> None:
    """UsageError unless ``env_file`` may be written: ours or absent, in a writable dir, no live server's."""
    from xmpp_ext.util.envfile import EnvFileError, check_replaceable

    try:
        check_replaceable(env_file)  # before the server starts: never over a file someone else wrote
    except EnvFileError as exc:
        raise click.UsageError(str(exc)) from None
    directory = env_file.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise click.UsageError(f"{env_file}: cannot write in {directory} (no such directory, or not writable)")
    running = server_still_listening(env_file)
    if running:
        raise click.UsageError(
            f"{env_file} belongs to a local server still running on {running}: stop it first, "
            "or give this one another --env-file"
        )


def server_still_listening(env_file: Path) -> str | None:
    """The address of the server an existing .env of ours points to, if something still listens there."""
    import socket

    from xmpp_ext.util.envfile import EnvFileError, read_env_file

    try:
        credentials = read_env_file(env_file)
    except EnvFileError:
        return None  # absent (or unreadable: check_replaceable has said so)
    if credentials.host not in ("127.0.0.1", "::1") or not credentials.port:
        return None  # not a local server's (ours only ever listen on loopback)
    if not (credentials.ca_cert and credentials.ca_cert.exists()):
        return None  # its certificate is gone with its server
    try:
        with socket.create_connection((credentials.host, credentials.port), timeout=1):
            return f"{credentials.host}:{credentials.port}"
    except OSError:
        return None


def how_to_call_xmppext() -> str:
    """``xmppext`` when that name on PATH is this very program, else how to reach it (e.g. .venv/bin/xmppext)."""
    import shutil
    import sys

    invoked = Path(sys.argv[0])
    on_path = shutil.which("xmppext")
    if invoked.name == "xmppext":
        if on_path is not None and Path(on_path).resolve() == invoked.resolve():
            return "xmppext"
        return shlex.quote(str(invoked))
    return f"{shlex.quote(sys.executable)} -m xmpp_ext"


def env_file_argument(env_file: Path) -> str:
    """`` --env-file PATH`` for a printed command, or nothing for the default ./.env."""
    return "" if env_file == Path(".env") else f" --env-file {shlex.quote(str(env_file))}"
