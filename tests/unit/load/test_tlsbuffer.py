"""The canary of xmpp_ext.load.tlsbuffer: each fact it relies on about asyncio's SSLProtocol, on this CPython."""

from __future__ import annotations

import asyncio
import collections
import inspect
import ssl
from asyncio import selector_events, sslproto

import pytest

from xmpp_ext.load import tlsbuffer
from xmpp_ext.load.smallqueues import SmallDeque
from xmpp_ext.servers.certs import generate_certificates


@pytest.fixture
def shared():
    loop = asyncio.new_event_loop()
    try:
        assert tlsbuffer.share_read_buffer(loop) == tlsbuffer.READ_SIZE == 16 * 1024
        yield loop
    finally:
        tlsbuffer.restore()
        loop.close()


def new_protocol(loop: asyncio.AbstractEventLoop) -> sslproto.SSLProtocol:
    context = ssl.create_default_context()
    return sslproto.SSLProtocol(loop, asyncio.Protocol(), context, loop.create_future(), server_hostname="x")


def test_asyncio_allocates_a_256_kib_read_buffer_per_tls_connection():
    # What the module saves: when CPython stops doing this, the module is moot (and this test says so).
    assert tlsbuffer.supported()
    loop = asyncio.new_event_loop()
    try:
        first, second = new_protocol(loop), new_protocol(loop)
        assert sslproto.SSLProtocol.max_size == len(first._ssl_buffer) == 256 * 1024
        assert first._ssl_buffer is not second._ssl_buffer
        assert type(first._write_backlog) is collections.deque  # what the shared protocol keeps in a list instead
    finally:
        loop.close()


def test_every_tls_connection_then_reads_into_the_one_16_kib_buffer(shared):
    first, second = new_protocol(shared), new_protocol(shared)
    assert type(first) is tlsbuffer.SharedReadBufferSSLProtocol
    assert first.get_buffer(-1) is second.get_buffer(-1)  # what the socket transport reads into, every time
    assert len(first.get_buffer(-1)) == 16 * 1024
    assert len(first.get_buffer(1 << 20)) == 16 * 1024  # never a larger one of its own


def test_the_buffer_is_used_only_within_one_synchronous_read():
    # The selector transport gets the buffer, reads into it and hands it over in one call, no await in between;
    # the protocol copies it out first thing. Either changing would make a shared buffer unsafe.
    read = inspect.getsource(selector_events._SelectorSocketTransport._read_ready__get_buffer)
    assert read.index("get_buffer(") < read.index("recv_into(buf)") < read.index("buffer_updated(nbytes)")
    assert "await" not in read and "yield" not in read
    updated = inspect.getsource(sslproto.SSLProtocol.buffer_updated)
    first_statement = next(line.strip() for line in updated.splitlines()[1:] if line.strip())
    assert first_statement == "self._incoming.write(self._ssl_buffer_view[:nbytes])"
    init = inspect.getsource(sslproto.SSLProtocol.__init__)
    assert "self._ssl_buffer = bytearray(self.max_size)" in init
    assert "self._ssl_buffer_view = memoryview(self._ssl_buffer)" in init


def test_a_proactor_or_unknown_loop_is_left_alone():
    class NotASelectorLoop(asyncio.AbstractEventLoop):
        pass

    assert tlsbuffer.share_read_buffer(NotASelectorLoop()) is None
    assert sslproto.SSLProtocol is not tlsbuffer.SharedReadBufferSSLProtocol


def test_connections_reading_at_once_through_the_shared_buffer_each_get_their_own_bytes(shared, tmp_path):
    certs = generate_certificates(tmp_path, "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certs.cert, certs.key)
    client_context = ssl.create_default_context(cafile=str(certs.ca_cert))
    streams = 8
    payloads = [bytes([65 + number]) * 100_000 + b"\n" for number in range(streams)]  # several records each

    async def run() -> list[bytes]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            number = int((await reader.readline()).decode())
            writer.write(payloads[number])
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]

        async def fetch(number: int) -> bytes:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
            )
            assert type(writer.transport._ssl_protocol) is tlsbuffer.SharedReadBufferSSLProtocol
            assert type(writer.transport._ssl_protocol._write_backlog) is SmallDeque  # the server's too: it writes
            writer.write(f"{number}\n".encode())
            data = await reader.readexactly(len(payloads[number]))
            writer.close()
            return data

        async with server:
            return await asyncio.wait_for(asyncio.gather(*(fetch(number) for number in range(streams))), 30)

    assert shared.run_until_complete(run()) == payloads
