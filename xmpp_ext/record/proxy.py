"""The recording proxy: clients log in through it to the local server, and it reads what passes.

It listens on 127.0.0.1 beside the server, on a STARTTLS port and a direct
TLS (XEP-0368) port, and forwards every byte unchanged both ways. It can read
them because it ends each TLS connection itself: it presents the local
server's own certificate (made by xmppext, for the server's domain, signed by
the CA clients are told to trust), so a client verifies the proxy exactly as
it would verify the server, and it opens its own TLS connection to the server,
verified against the same CA.

STARTTLS is followed, not rewritten: the client's ``<starttls/>`` goes to the
server; when the server's ``<proceed/>`` arrives, the proxy first completes
TLS with the server, then hands ``<proceed/>`` to the client and completes TLS
with it. Nothing of the client's can be read in between: the client sends its
TLS handshake only after ``<proceed/>``, and the switch happens before the
event loop reads the client's socket again.

SASL channel binding (SCRAM-*-PLUS) binds a login to one TLS connection, and
there are two here: a client binding to its connection with the proxy would
fail at the server. So the proxy leaves the -PLUS mechanisms out of the
features it hands on (ejabberd 23.01 offers SCRAM-SHA-1-PLUS; Prosody 0.12
offers none over TLS 1.3), and a client that could bind says so ("y") and uses
plain SCRAM, which both servers accept. Until the session is bound, the
server's bytes are handed on an element at a time, so the features can be
read whole first.

Bounds: only loopback, at most MAX_CONNECTIONS at once, connecting to the
server and each TLS handshake time out, and what it reads is bounded by the
stream observer and the recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from xmpp_ext.record.recording import ConnectionRecorder, Recording
from xmpp_ext.record.stream import StreamUnreadable

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MAX_CONNECTIONS = 64
MAX_NAMED_PROBLEMS = 20  # broken connections told one by one; the rest are counted
CHUNK = 64 * 1024
CONNECT_TIMEOUT = 5.0
HANDSHAKE_TIMEOUT = 10.0
#: A SASL mechanism with channel binding, as servers write them in their stream features.
_BINDING_MECHANISM = re.compile(rb"<((?:[\w.-]+:)?mechanism)>\s*[\w-]+-PLUS\s*</\1>")


def without_channel_binding(data: bytes) -> bytes:
    """``data`` (whole elements of the server's stream) without the SCRAM-*-PLUS mechanisms it offers."""
    return _BINDING_MECHANISM.sub(b"", data)


@dataclass(frozen=True)
class Upstream:
    """The local server behind the proxy: its ports, its domain, its certificate and key, its CA."""

    host: str
    port: int
    direct_tls_port: int
    domain: str
    certificate: Path
    key: Path
    ca_cert: Path


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    recorder: ConnectionRecorder
    tasks: list[asyncio.Task] = field(default_factory=list)


class RecordingProxy:
    """``await RecordingProxy(upstream, recording).start()``; clients connect to ``port`` / ``direct_tls_port``."""

    def __init__(self, upstream: Upstream, recording: Recording) -> None:
        self.upstream = upstream
        self.recording = recording
        # Towards the server: verified against the local CA, as any client would.
        self._to_server = ssl.create_default_context(cafile=str(upstream.ca_cert))
        # Towards clients: the server's own certificate.
        self._to_clients = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._to_clients.minimum_version = ssl.TLSVersion.TLSv1_2
        self._to_clients.load_cert_chain(str(upstream.certificate), str(upstream.key))
        self._listeners: list[asyncio.Server] = []
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task] = set()
        self.refused = 0  # connections over MAX_CONNECTIONS, or that could not reach the server
        self.broken: list[str] = []  # why connections were ended by the proxy (unreadable negotiation, TLS)
        self.broken_unnamed = 0  # more of them, past MAX_NAMED_PROBLEMS

    async def start(self) -> RecordingProxy:
        """Listen on both ports (OSError if that fails)."""
        self._listeners.append(await asyncio.start_server(self._accept_starttls, LOOPBACK, 0))
        self._listeners.append(
            await asyncio.start_server(
                self._accept_direct_tls, LOOPBACK, 0, ssl=self._to_clients, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        )
        return self

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        return self._listeners[0].sockets[0].getsockname()[1]

    @property
    def direct_tls_port(self) -> int:
        return self._listeners[1].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every connection (clients see the server go away)."""
        for listener in self._listeners:
            listener.close()
        for link in list(self._links):
            self._close(link)
        if self._handlers:
            _done, late = await asyncio.wait(self._handlers, timeout=CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT)
            for task in late:
                task.cancel()
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners.clear()

    # -- connections ---------------------------------------------------------------

    async def _accept_starttls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._handle(reader, writer, direct_tls=False)

    async def _accept_direct_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._handle(reader, writer, direct_tls=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direct_tls: bool) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            await self._serve(reader, writer, direct_tls)
        finally:
            self._handlers.discard(task)

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter, direct_tls: bool) -> None:
        if len(self._handlers) > MAX_CONNECTIONS:  # those still connecting to the server count too (this one too)
            self.refused += 1
            client.transport.abort()
            return
        upstream = self.upstream
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT):  # not wait_for: see session.login
                server_reader, server = await asyncio.open_connection(
                    upstream.host,
                    upstream.direct_tls_port if direct_tls else upstream.port,
                    ssl=self._to_server if direct_tls else None,
                    server_hostname=upstream.domain if direct_tls else None,
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT if direct_tls else None,
                )
        except (OSError, TimeoutError) as exc:
            self.refused += 1
            log.warning("cannot reach the local server: %s", exc)
            client.transport.abort()
            return
        link = _Link(client, server, self.recording.connection())
        self._links.add(link)
        link.tasks = [
            asyncio.ensure_future(self._client_to_server(link, client_reader)),
            asyncio.ensure_future(self._server_to_client(link, server_reader)),
        ]
        try:
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._close(link)

    async def _client_to_server(self, link: _Link, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(CHUNK):
                link.recorder.from_client(data)
                link.server.write(data)
                await link.server.drain()
        except StreamUnreadable as exc:
            self._broken(f"a client's stream could not be followed ({exc})")
        except (OSError, ssl.SSLError):
            pass  # the connection is gone: the link closes

    async def _server_to_client(self, link: _Link, reader: asyncio.StreamReader) -> None:
        held = b""  # before binding: the part of an element not complete yet (bounded by the observer)
        try:
            while data := await reader.read(CHUNK):
                switch = link.recorder.from_server(data)
                negotiating = link.recorder.negotiating
                if negotiating or held:
                    held += data
                    if negotiating and link.recorder.server_side.inside_element and not switch:
                        continue
                    data, held = without_channel_binding(held), b""
                if switch:
                    await self._switch_to_tls(link, data)
                    continue
                link.client.write(data)
                await link.client.drain()
        except StreamUnreadable as exc:
            self._broken(f"the server's stream could not be followed ({exc})")
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            if isinstance(exc, ssl.SSLError | TimeoutError):
                self._broken(f"TLS with a client or the server failed ({exc})")

    def _broken(self, problem: str) -> None:
        if len(self.broken) < MAX_NAMED_PROBLEMS:
            self.broken.append(problem)
        else:
            self.broken_unnamed += 1

    async def _switch_to_tls(self, link: _Link, proceed: bytes) -> None:
        """The server said ``<proceed/>``: TLS with the server first, then ``<proceed/>`` and TLS with the client.

        Between writing ``<proceed/>`` and the switch of the client's side
        there is no await: the client's first TLS bytes cannot be read as
        plain text.
        """
        await link.server.start_tls(
            self._to_server, server_hostname=self.upstream.domain, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
        )
        link.client.write(proceed)
        await link.client.start_tls(self._to_clients, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)

    def _close(self, link: _Link) -> None:
        if link not in self._links:
            return
        self._links.discard(link)
        link.recorder.closed()
        for writer in (link.client, link.server):
            with contextlib.suppress(Exception):
                writer.close()  # what was written is still flushed: a closing stream ends politely
        for task in link.tasks:
            if task is not asyncio.current_task():
                task.cancel()
