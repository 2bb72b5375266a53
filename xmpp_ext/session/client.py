"""One place for connecting: settings -> slixmpp client -> a bound session, or a clear failure.

Every failure to get a session (refused connection, untrusted certificate,
wrong password, stream error, time-out) becomes a ConnectError whose message
is one line naming the host, port and JID, and which the CLI maps to exit 3.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import slixmpp
from slixmpp import JID

import xmpp_ext.plugin  # noqa: F401  (registers the example_tag plugin by name)
from xmpp_ext.session.guard import install_depth_guard
from xmpp_ext.util.secret import Secret

log = logging.getLogger(__name__)

DEFAULT_PLUGINS = ("xep_0030", "example_tag")
STARTTLS_PORT = 5222  # RFC 6120's client port
DIRECT_TLS_PORT = 5223  # the usual direct TLS port (XEP-0368 finds others through SRV)


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


@dataclass(frozen=True)
class ConnectionSettings:
    jid: JID
    password: Secret = field(repr=False)
    host: str | None = None  # None: the JID's domain, through its DNS SRV records
    port: int | None = None
    ca_cert: Path | None = None  # trust exactly this CA/certificate
    insecure: bool = False  # skip certificate verification (warned about by the CLI)
    connect_timeout: float = 10.0
    direct_tls: bool = False  # XEP-0368: TLS from the first byte (a dedicated port), never STARTTLS
    password_source: str = "the password"  # e.g. "XMPPEXT_PASSWORD", named in a failed login's next step

    def __post_init__(self) -> None:
        if not isinstance(self.jid, JID):
            object.__setattr__(self, "jid", JID(self.jid))

    def endpoint(self) -> tuple[str, int] | None:
        """Where to connect, or None to look the JID's domain up in DNS SRV records.

        slixmpp uses a host only together with a port (and a port only with a
        host), so either one given alone is completed here: a host alone means
        its port 5222, a port alone the JID's domain on that port.
        """
        if self.host is None and self.port is None:
            return None
        return self.host or self.jid.domain, self.port or (DIRECT_TLS_PORT if self.direct_tls else STARTTLS_PORT)

    @property
    def address(self) -> str:
        endpoint = self.endpoint()
        return f"{endpoint[0]}:{endpoint[1]}" if endpoint else f"{self.jid.domain} (DNS SRV)"


def build_client(settings: ConnectionSettings, plugins: Iterable[str] = DEFAULT_PLUGINS) -> slixmpp.ClientXMPP:
    """A ClientXMPP configured for ``settings`` with ``plugins`` registered; not yet connected."""
    client = slixmpp.ClientXMPP(settings.jid, settings.password.reveal(), ssl_context=_ssl_context(settings))
    if settings.direct_tls:
        # Only TLS from the first byte: no STARTTLS, never plain text.
        client.enable_direct_tls, client.enable_starttls, client.enable_plaintext = True, False, False
    elif settings.endpoint() is not None:
        # An explicit address is a client port with STARTTLS (5222-style); slixmpp
        # would otherwise first try direct TLS on it and fail once per attempt.
        client.enable_direct_tls = False
    # First of the incoming filters: nothing below it ever sees a stanza nested deep enough to break it.
    install_depth_guard(client)
    for plugin in plugins:
        client.register_plugin(plugin)
    return client


def _ssl_context(settings: ConnectionSettings) -> ssl.SSLContext | None:
    """A context trusting exactly ``ca_cert``, or none checking nothing (--insecure); None: the system's CAs.

    Building our own also spares loading the whole system CA store when it
    would not be used (a noticeable part of a one-shot send's start-up).
    """
    if settings.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if settings.ca_cert is not None:
        return ssl.create_default_context(cafile=str(settings.ca_cert))
    return None


async def connect(client: slixmpp.ClientXMPP, settings: ConnectionSettings) -> None:
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
        if explanation.startswith("TLS"):
            fail(explanation, "tls")
        elif not settings.direct_tls:  # hung up before any stream error or TLS: e.g. a direct TLS port
            fail(explanation, "reset")
        else:
            fail(explanation, "other")

    def refused(error: object) -> None:
        wrong_tls = settings.direct_tls and "WRONG_VERSION_NUMBER" in str(error)
        fail(f"connection failed ({_describe_os_error(error)})", "not-direct-tls" if wrong_tls else "unreachable")

    handlers = {
        "session_start": lambda _event: outcome.done() or outcome.set_result(None),
        "connection_failed": refused,
        "ssl_invalid_chain": lambda error: fail(f"TLS certificate not trusted ({_describe_ssl_error(error)})", "tls"),
        "failed_auth": lambda stanza: fail(
            f"authentication failed ({stanza['condition'] or 'not-authorized'})", "auth"
        ),
        "failed_all_auth": lambda _event: fail("authentication failed", "auth"),
        "no_auth": lambda _event: fail("no usable SASL mechanism offered", "auth"),
        "stream_error": lambda error: fail(f"stream error {error['condition']}" + _text(error), "stream"),
        "disconnected": lost,
    }
    for event, handler in handlers.items():
        client.add_event_handler(event, handler)
    try:
        host, port = settings.endpoint() or (None, None)
        client.connect(host, port)
        await asyncio.wait_for(outcome, settings.connect_timeout)
    except TimeoutError:
        await _give_up(client)
        raise ConnectError(
            f"cannot log in to {where}: no session within {settings.connect_timeout:g}s",
            "timeout",
            settings.password_source,
        ) from None
    except ConnectError:
        await _give_up(client)
        raise
    finally:
        for event, handler in handlers.items():
            client.del_event_handler(event, handler)


@asynccontextmanager
async def session(
    settings: ConnectionSettings, plugins: Iterable[str] = DEFAULT_PLUGINS
) -> AsyncIterator[slixmpp.ClientXMPP]:
    """A connected client for the duration of a ``with`` block, then a clean disconnect."""
    client = build_client(settings, plugins)
    await connect(client, settings)
    try:
        yield client
    finally:
        await disconnect(client)


async def disconnect(client: slixmpp.ClientXMPP, wait: float = 2.0) -> None:
    """Close the stream politely, bounded by ``wait`` seconds."""
    client.cancel_connection_attempt()
    if client.transport is None:
        return
    try:
        await asyncio.wait_for(client.disconnect(wait=wait), wait + 1)
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


def _text(error: object) -> str:
    try:
        text = error["text"]  # type: ignore[index]
    except (KeyError, TypeError):
        return ""
    return f": {text}" if text else ""
