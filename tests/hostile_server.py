"""A tiny hostile XMPP server on loopback: it attacks a client's memory before any stanza completes.

It speaks just enough XMPP for a client to get where the attack starts:
right after its stream header (``at="header"``, plain text), or after a
whole session (``at="session"``: STARTTLS with a certificate of its own CA,
SASL PLAIN that accepts anything, resource binding). Then it writes one
attack, up to a bounded number of bytes, and holds the connection open (as a
real attacker would) until the client hangs up or ``HOLD_SECONDS`` pass.
Every connection gets the same treatment, reconnections included.

Runs its own event loop on a thread, so a test can run the client as a
child process and wait for it plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from xmpp_ext.servers.certs import CertificateFiles, generate_certificates

DOMAIN = "localhost"
STREAMS = "http://etherx.jabber.org/streams"
HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    f"xmlns:stream='{STREAMS}' from='{DOMAIN}' id='hostile' version='1.0'>"
).encode()
CHUNK = 64 * 1024
HOLD_SECONDS = 60  # longest a connection stays open after its attack
READ_LIMIT = 64 * 1024  # what it keeps of a client's bytes while waiting for a marker

#: name -> (what opens the attack, what it repeats). The opening makes it one never-ending element.
ATTACKS = {
    "whitespace": (b"", b" "),  # whitespace between stanzas, forever
    "nested": (b"", b"<a>"),  # one stanza nested ever deeper
    "features": (b"<stream:features>", b"<f/>"),  # one huge element, of many small ones
}


@dataclass
class HostileServer:
    attack: str
    total: int  # bytes of attack to write per connection at most (0: hang up instead)
    at: str = "header"  # "header" or "session"
    workdir: Path | None = None  # for at="session": where its CA and certificate go
    port: int = 0
    connections: int = 0
    attacks_written: list[int] = field(default_factory=list)  # bytes written per attacked connection
    certificates: CertificateFiles | None = None

    def __post_init__(self) -> None:
        if self.attack not in ATTACKS or self.at not in ("header", "session"):
            raise ValueError(f"unknown attack {self.attack!r} at {self.at!r}")
        if self.at == "session":
            assert self.workdir is not None, "a session needs TLS: give a workdir for the certificate"
            self.certificates = generate_certificates(self.workdir, DOMAIN)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def ca_cert(self) -> Path | None:
        return self.certificates.ca_cert if self.certificates else None

    def __enter__(self) -> HostileServer:
        self._thread.start()
        assert self._ready.wait(10), "the hostile server did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(HOLD_SECONDS + 10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._tasks.add(asyncio.current_task())
        try:
            await asyncio.wait_for(self._converse(reader, writer), HOLD_SECONDS)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            self._tasks.discard(asyncio.current_task())
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.at == "session":
            await self._log_in(reader, writer)
        else:
            await _until(reader, rb"<stream:stream[^>]*>")
            writer.write(HEADER)
        if self.total == 0:
            return  # no attack at all: hang up, so the client ends as soon as it can
        opening, unit = ATTACKS[self.attack]
        writer.write(opening)
        self.attacks_written.append(await _repeat(writer, unit, self.total))
        await reader.read()  # until the client hangs up (or HOLD_SECONDS)

    async def _log_in(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """STARTTLS, SASL PLAIN (anything goes), bind: the client then has its session."""
        await _open_stream(reader, writer, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>")
        await _until(reader, rb"<starttls[^>]*>")
        writer.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await writer.drain()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificates.cert, self.certificates.key)
        await writer.start_tls(context)
        mechanisms = b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
        await _open_stream(reader, writer, mechanisms)
        await _until(reader, rb"</auth>|<auth[^>]*/>")
        writer.write(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        await _open_stream(reader, writer, b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>")
        request = await _until(reader, rb"<iq[^>]*>.*?</iq>")
        found = re.search(rb"id=['\"]([^'\"]+)", request)
        iq_id = found.group(1) if found else b"bind"
        writer.write(
            b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<jid>hostile@localhost/attacked</jid></bind></iq>"
        )
        await writer.drain()


async def _open_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, features: bytes) -> None:
    """Answer the client's stream header with ours and these stream features."""
    await _until(reader, rb"<stream:stream[^>]*>")
    writer.write(HEADER + b"<stream:features>" + features + b"</stream:features>")


async def _until(reader: asyncio.StreamReader, pattern: bytes) -> bytes:
    """Read until ``pattern`` appears in what the client sent (bounded); the match."""
    seen = b""
    while True:
        found = re.search(pattern, seen, re.DOTALL)
        if found:
            return found.group(0)
        data = await reader.read(4096)
        if not data:
            raise asyncio.IncompleteReadError(seen, None)
        seen = (seen + data)[-READ_LIMIT:]


async def _repeat(writer: asyncio.StreamWriter, unit: bytes, total: int) -> int:
    """Write ``unit`` again and again, ``total`` bytes at most; how many went out before the client hung up."""
    chunk = unit * max(1, CHUNK // len(unit))
    written = 0
    try:
        while written < total:
            writer.write(chunk)
            await writer.drain()
            written += len(chunk)
    except OSError:
        pass
    return written
