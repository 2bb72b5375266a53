"""Short queues in lists (xmpp_ext.load.smallqueues): the canary of what it replaces, and the objects still working."""

from __future__ import annotations

import asyncio
import collections
import sys

import pytest
from slixmpp.plugins.xep_0198 import stanza as sm_stanza

from xmpp_ext.load import sessions
from xmpp_ext.load.smallqueues import SmallDeque, shrink_event, shrink_queue
from xmpp_ext.session import ConnectionSettings, StreamManagement, build_client, slixmpp_private
from xmpp_ext.session.streammgmt import MAX_SEQ
from xmpp_ext.util.secret import Secret


def load_session(stream_management: bool = True):
    settings = ConnectionSettings("load1@localhost/load", Secret("pw"))
    return sessions.new_session(settings, stream_management, lambda event: None)


def test_an_empty_deque_costs_ten_times_an_empty_small_deque():
    # What the module saves: when CPython stops allocating a block with every deque, the module is moot.
    assert sys.getsizeof(collections.deque()) >= 600
    assert sys.getsizeof(SmallDeque()) <= 80


def test_asyncio_and_slixmpp_still_keep_these_short_queues_in_deques():
    queue, event = asyncio.Queue(), asyncio.Event()
    for deque in (queue._queue, queue._getters, queue._putters, queue._finished._waiters, event._waiters):
        assert type(deque) is collections.deque
    settings = ConnectionSettings("load1@localhost/load", Secret("pw"))
    client = build_client(settings, (), stream_management=StreamManagement())
    assert type(client.waiting_queue) is asyncio.Queue and type(client.session_bind_event) is asyncio.Event
    assert type(client.plugin["xep_0198"].unacked_queue) is collections.deque


def test_a_load_session_keeps_its_short_queues_in_small_deques():
    client = load_session().client
    queue = client.waiting_queue
    small = (queue._queue, queue._getters, queue._putters, queue._finished._waiters, client.session_bind_event._waiters)
    assert all(type(each) is SmallDeque for each in small)
    assert type(slixmpp_private.StreamManagementState(client.plugin["xep_0198"]).unacked) is SmallDeque


def test_a_small_deque_pops_from_the_left():
    queue = SmallDeque([1, 2, 3])
    assert queue.popleft() == 1 and queue == [2, 3]
    with pytest.raises(IndexError):
        SmallDeque().popleft()


def test_a_shrunk_queue_hands_items_to_waiting_getters_in_order_and_joins():
    async def run() -> list[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        shrink_queue(queue)
        got: list[int] = []

        async def get(count: int) -> None:
            for _ in range(count):
                got.append(await queue.get())
                queue.task_done()

        getters = [asyncio.ensure_future(get(2)) for _ in range(2)]
        await asyncio.sleep(0)  # both getters wait on the empty queue
        assert len(queue._getters) == 2
        for item in range(4):
            queue.put_nowait(item)
        await asyncio.wait_for(queue.join(), 5)
        await asyncio.gather(*getters)
        assert not queue._getters and queue.empty()
        return got

    assert asyncio.run(run()) == [0, 1, 2, 3]


def test_a_shrunk_event_wakes_its_waiters_and_forgets_a_cancelled_one():
    async def run() -> None:
        event = asyncio.Event()
        shrink_event(event)
        waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
        await asyncio.sleep(0)
        waiters[0].cancel()
        await asyncio.sleep(0)
        assert len(event._waiters) == 2
        event.set()
        assert await asyncio.wait_for(asyncio.gather(*waiters[1:]), 5) == [True, True]
        assert not event._waiters

    asyncio.run(run())


def test_a_queue_or_event_in_use_is_left_as_it_is():
    queue, event = asyncio.Queue(), asyncio.Event()
    queue.put_nowait(1)
    event._waiters.append(object())
    shrink_queue(queue)
    shrink_event(event)
    assert type(queue._queue) is collections.deque and type(event._waiters) is collections.deque


def test_stream_management_frees_acknowledged_stanzas_from_a_small_deque():
    client = load_session().client
    plugin = client.plugin["xep_0198"]
    plugin.enabled_out = True
    state = slixmpp_private.StreamManagementState(plugin)
    for number in range(1, 6):
        state.count_out(f"<iq id='{number}'/>", MAX_SEQ)
    ack = sm_stanza.Ack()
    ack["h"] = 3
    plugin._handle_ack(ack)  # what slixmpp does with <a h='3'/>
    assert list(state.unacked) == [(4, "<iq id='4'/>"), (5, "<iq id='5'/>")]
    assert type(state.unacked) is SmallDeque
