"""run-pair's READY channel: the first line of a FIFO, awaited or read at once."""

from __future__ import annotations

import asyncio
import os

from xmpp_ext.jobs.pair import FirstLine


def write(fifo, data: bytes) -> None:
    descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


def test_read_now_sees_only_a_whole_line(tmp_path):
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)

    async def scenario():
        with FirstLine(fifo) as first:
            assert first.read_now() is None
            write(fifo, b"READY me@loc")
            assert first.read_now() is None  # not a line yet
            write(fifo, b"alhost/r\nmore\n")
            return first.read_now()

    assert asyncio.run(scenario()) == "READY me@localhost/r"


def test_wait_resolves_when_the_line_arrives(tmp_path):
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)

    async def scenario():
        with FirstLine(fifo) as first:
            waiting = asyncio.ensure_future(first.wait())
            await asyncio.sleep(0)  # let wait() register its reader first
            write(fifo, b"READY peer@localhost/xmppext\n")
            return await asyncio.wait_for(waiting, 10)

    assert asyncio.run(scenario()) == "READY peer@localhost/xmppext"
