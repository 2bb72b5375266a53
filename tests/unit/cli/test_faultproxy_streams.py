"""What the fault proxy forwards besides bytes: the end of one direction (a half-close)."""

from __future__ import annotations

import asyncio

import pytest

from xmpp_ext.faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(30)


async def answer_after_end_of_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server that reads the whole request (until the client shuts its write side), then answers and closes."""
    request = await reader.read()
    writer.write(b"reply to " + request)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest.mark.asyncio
async def test_a_half_close_reaches_the_server_and_its_reply_still_reaches_the_client():
    server = await asyncio.start_server(answer_after_end_of_request, "127.0.0.1", 0)
    async with server, FaultProxy(("127.0.0.1", server.sockets[0].getsockname()[1])) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"request")
        writer.write_eof()  # shutdown(SHUT_WR): nothing more from this side, but still listening
        reply = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
        assert reply == b"reply to request"
        assert proxy.counters.cuts == 0
