"""Logging in and out: a connected client's first session, or one line saying why there is none.

Every failure to get a session (refused connection, untrusted certificate,
wrong password, stream error, time-out) becomes a ConnectError whose message
is one line naming the host, port and JID, and whose ``cause`` lets the
command suggest a next step (and map it to exit 3).
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import slixmpp

from xmpp_ext.session.closing import closing
from xmpp_ext.session.inbound_limits import InboundLimitExceeded
from xmpp_ext.session.settings import ConnectionSettings
from xmpp_ext.session.streammgmt import SESSION_READY, announce_ready_sessions
from xmpp_ext.util.display import printable

log = logging.getLogger(__name__)


class ConnectError(Exception):
    """No session could be established; the message says why in one line.

    ``cause`` sorts the failure for whoever suggests a next step:
    ``unreachable``, ``tls``, ``not-direct-tls`` (direct TLS on a STARTTLS port),
    ``reset`` (the server hung up at once: a direct TLS port?), ``auth``,
    ``timeout``, ``stream`` or ``other``.
    """

    def __init__(self, message: str, cause: str = "other", password_source: str = "the password") -> None:
        super().__init__(message)
        self.cause = cause
        self.password_source = password_source  # where the password came from, for the user's next step


async def login(client: slixmpp.ClientXMPP, settings: ConnectionSettings) -> None:
    """Connect ``client`` and wait for its session, or raise ConnectError.

    slixmpp retries failed connections forever with a back-off; a command-line
    tool must instead say what went wrong, so the first failure ends the attempt.
    """
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[None] = loop.create_future()
    where = f"{settings.address} as {settings.jid.bare}"

    def fail(reason: str, cause: str) -> None:
        if not outcome.done():
            outcome.set_exception(ConnectError(f"cannot log in to {where}: {reason}", cause, settings.password_source))

    def lost(reason: object) -> None:
        explanation = _explain_disconnect(reason)
        if isinstance(reason, InboundLimitExceeded):
            fail(str(reason), "stream")
        elif explanation.startswith("TLS"):
            fail(explanation, "tls")
        elif not settings.direct_tls:  # hung up before any stream error or TLS: e.g. a direct TLS port
            fail(explanation, "reset")
        else:
            fail(explanation, "other")

    def refused(error: object) -> None:
        wrong_tls = settings.direct_tls and "WRONG_VERSION_NUMBER" in str(error)
        fail(f"connection failed ({_describe_os_error(error)})", "not-direct-tls" if wrong_tls else "unreachable")

    handlers = {
        SESSION_READY: lambda _event: outcome.done() or outcome.set_result(None),
        "connection_failed": refused,
        "ssl_invalid_chain": lambda error: fail(f"TLS certificate not trusted ({_describe_ssl_error(error)})", "tls"),
        "failed_auth": lambda stanza: fail(
            f"authentication failed ({stanza['condition'] or 'not-authorized'})", "auth"
        ),
        "failed_all_auth": lambda _event: fail("authentication failed", "auth"),
        "no_auth": lambda _event: fail("no usable SASL mechanism offered", "auth"),
        "stream_error": lambda error: fail(describe_stream_error(error), "stream"),
        "disconnected": lost,
    }
    announce_ready_sessions(client)
    for event, handler in handlers.items():
        client.add_event_handler(event, handler)
    try:
        host, port = settings.endpoint() or (None, None)
        client.connect(host, port)
        # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result when the future completes
        # as the caller is cancelled, and a Ctrl-C at that moment would be lost (the job running on).
        async with asyncio.timeout(settings.connect_timeout):
            await outcome
    except TimeoutError:
        await _give_up(client)
        raise ConnectError(
            f"cannot log in to {where}: no session within {settings.connect_timeout:g}s",
            "timeout",
            settings.password_source,
        ) from None
    except (ConnectError, asyncio.CancelledError):
        # Cancelled too (Ctrl-C): a login left running would negotiate on while the caller logs out.
        await _give_up(client)
        raise
    finally:
        for event, handler in handlers.items():
            client.del_event_handler(event, handler)


async def disconnect(client: slixmpp.ClientXMPP, wait: float = 2.0) -> None:
    """Close the stream politely, bounded by ``wait`` seconds."""
    client.cancel_connection_attempt()
    if closing(client):  # gone, or being dropped: no stream footer to write
        if client.transport is not None:
            client.abort()
        return
    try:
        async with asyncio.timeout(wait + 1):  # not wait_for: see login
            await client.disconnect(wait=wait)
    except TimeoutError:
        client.abort()


async def _give_up(client: slixmpp.ClientXMPP) -> None:
    client.cancel_connection_attempt()
    client.abort()


def _describe_os_error(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _explain_disconnect(reason: object) -> str:
    # A failed TLS handshake may surface as the connection's loss before
    # slixmpp's ssl_invalid_chain event: name the real cause either way.
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({_describe_ssl_error(reason)})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({_describe_ssl_error(reason)})"
    return f"disconnected during login ({reason or 'connection closed'})"


def _describe_ssl_error(error: object) -> str:
    return getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)


def describe_stream_error(error: object) -> str:
    """One line for a server's stream error, its condition and text made printable (the server may be hostile)."""
    try:
        condition, text = error["condition"], error["text"]  # type: ignore[index]
    except (KeyError, TypeError):
        return "stream error"
    return f"stream error {printable(condition)}" + (f": {printable(text)}" if text else "")
