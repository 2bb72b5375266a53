"""A throwaway local server for a command (run-pair --local, local-server), its failures as exit codes."""

from __future__ import annotations

from xmpp_ext.cli.outcome import CommandFailed, Stopped
from xmpp_ext.util.exitcodes import ExitCode
from xmpp_ext.util.stopsignals import sigterm_as_ctrl_c


def start_pair_server(kind: str):
    """A throwaway server with a sender and a responder account, and their credentials."""
    from xmpp_ext.servers import ServerFailed, ServerNotInstalled, start_server
    from xmpp_ext.util.envfile import PairCredentials

    try:
        with sigterm_as_ctrl_c():
            server = start_server(kind, accounts=("sender", "responder"))
    except (ServerNotInstalled, ServerFailed) as exc:
        raise CommandFailed(str(exc), ExitCode.CONNECT) from None
    except KeyboardInterrupt:
        raise Stopped(f"interrupted while starting {kind}") from None
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
