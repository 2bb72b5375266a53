"""Small queues for a load session: lists where asyncio and slixmpp make a ``collections.deque`` per connection.

An empty ``collections.deque`` is 760 bytes: CPython allocates its first
block of 64 slots with it. A load session had nine of them, nearly always
empty or holding a few items. Seven are replaced here: slixmpp's send queue
(an ``asyncio.Queue``: its items, its getters, its putters, and the waiters
of its ``join`` event), its ``session_bind_event`` (an ``asyncio.Event``),
stream management's queue of unacknowledged stanzas (at most its ack window
and the stanzas in flight), and the write backlog of asyncio's
``SSLProtocol`` (xmpp_ext.load.tlsbuffer). That is 5 KiB of a load session's
~95 KiB. (The inbound limits' event queue is a list of their own now; the one
of the stream's ``XMLPullParser`` stays.) A ``SmallDeque`` is a list that
also has ``popleft``: 72 bytes empty.

Each of those objects uses its deque only through ``append``, ``popleft``,
``remove``, ``clear``, ``[0]``, ``del [0]``, ``len``, truth and iteration,
which a list has too (``popleft`` costs a move of what is left: nothing for
queues this short). The attributes are private to asyncio and slixmpp:
``tests/unit/load/test_smallqueues.py`` checks on the running versions that
each is still the deque described here, and that the objects still work
with a SmallDeque in its place.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import slixmpp

from xmpp_ext.session import slixmpp_private


class SmallDeque(list):
    """A list with ``popleft``: what a short queue needs of ``collections.deque``, in a tenth of its memory."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def shrink_queue(queue: asyncio.Queue) -> None:
    """An empty ``asyncio.Queue``'s items, getters, putters and join waiters in SmallDeques."""
    if not isinstance(queue._queue, collections.deque) or queue._queue or queue._getters or queue._putters:
        return  # not the Queue described above, or in use already
    queue._queue = SmallDeque()
    queue._getters = SmallDeque()
    queue._putters = SmallDeque()
    shrink_event(queue._finished)


def shrink_event(event: asyncio.Event) -> None:
    """An ``asyncio.Event`` nobody waits for yet keeps its future waiters in a SmallDeque."""
    if isinstance(event._waiters, collections.deque) and not event._waiters:
        event._waiters = SmallDeque()


def shrink_client_queues(client: slixmpp.ClientXMPP) -> None:
    """SmallDeques in ``client``'s send queue, bind event and stream management queue (before it connects)."""
    shrink_queue(client.waiting_queue)
    shrink_event(client.session_bind_event)
    slixmpp_private.replace_empty_unacked_queue(client, SmallDeque())
