"""Every read or write of a slixmpp attribute that is not public API, in one place.

slixmpp 1.17 offers no public way to do these few things; each access below
is named for what it gives us, says why we need it, and is checked by
``tests/unit/session/test_session.py`` against the installed slixmpp
(``missing()`` lists what a new version no longer has), under the same version
pin as ``xmpp_ext.session.patches``. Stream management's state (``seq``,
``handled``, ``unacked_queue``...) is plain attributes of the ``xep_0198``
plugin without a leading underscore, but undocumented: it lives here too.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import slixmpp

SM_PLUGIN = "xep_0198"


def incoming_filters(client: slixmpp.ClientXMPP) -> list:
    """The incoming filters in the order they run (slixmpp can add and remove them, not list them).

    Read only, by tests that check the order the session layer registers.
    """
    return client._XMLStream__filters["in"]


def stanza_handler_names(client: slixmpp.ClientXMPP) -> set[str]:
    """The names of the stanza handlers registered (read only, by tests of what a client keeps)."""
    return {handler.name for handler in client._XMLStream__handlers}


def stream_features(client: slixmpp.ClientXMPP) -> list[tuple[int, str]]:
    """(order, name) of every stream feature registered, in the order they are negotiated (read only).

    ``unregister_feature(name, order)`` needs the order it was registered in, and drops the handler even
    when that order is wrong (then raising ValueError): check here first."""
    return list(client._stream_feature_order)


def sm_counter(client: slixmpp.ClientXMPP):
    """xep_0198's incoming filter that counts ``h`` (to check it runs first)."""
    return client.plugin[SM_PLUGIN]._handle_incoming


def in_session(client: slixmpp.ClientXMPP) -> bool:
    """Whether a stanza written now goes out: the test ``XMLStream.send`` makes before holding one back,
    plus a live connection."""
    return (client._session_started or client._always_send_everything) and client.transport is not None


def send_queue_empty(client: slixmpp.ClientXMPP) -> bool:
    """Whether slixmpp has written everything queued with ``send`` (right after a resumption: its re-sends)."""
    return client.waiting_queue.empty()


async def send_queue_written(client: slixmpp.ClientXMPP) -> None:
    await client.waiting_queue.join()


async def stop_send_task(client: slixmpp.ClientXMPP) -> None:
    """End the send task slixmpp keeps per client, while the loop still runs.

    slixmpp cancels it only when the client object is collected, which after
    ``asyncio.run`` returns is too late: Python then warns "Task was destroyed
    but it is pending!".
    """
    task = getattr(client, "_run_out_filters", None)
    if task is not None and not task.done():
        task.cancel()
        # Waited for, not awaited: awaiting it under suppress(CancelledError) would also swallow
        # a cancellation of the caller (Ctrl-C during the logout), which would then run on.
        await asyncio.wait({task})


def forget_stream(client: slixmpp.ClientXMPP) -> None:
    """Make the next connection start a new stream management session instead of resuming this one.

    slixmpp resumes whenever it knows a stream id. Its plugin's ``session_end`` forgets the id, the
    counters and the queue (the caller has taken a copy of what to send again), as after a refused
    resumption: stale counters would make the next session's acks free the wrong stanzas.
    """
    client.plugin[SM_PLUGIN].session_end(None)


def wrap_each_parser(client: slixmpp.ClientXMPP, wrap: Callable[[Any], Any]) -> None:
    """Give each stream's XML parser to ``wrap`` as slixmpp makes it, and use what it returns instead.

    slixmpp makes a new ``XMLPullParser`` in ``init_parser`` (at connection,
    after STARTTLS, after SASL) into ``client.parser``, and ``data_received``
    uses only its ``feed`` and ``read_events``: the wrapper needs those two.
    """
    make_parser = client.init_parser

    def init_parser() -> None:
        make_parser()
        client.parser = wrap(client.parser)

    client.init_parser = init_parser


def no_whitespace_keepalive(client: slixmpp.ClientXMPP) -> None:
    """No whitespace keepalive for this client: slixmpp 1.17 starts its repeating timer at every session start
    whatever ``whitespace_keepalive`` says (the flag its docstring names is never read), so the handler goes."""
    client.del_event_handler("session_start", client._start_keepalive)


#: BaseXMPP's and ClientXMPP's own handlers of presence and roster events, by event (see ``presence_bookkeeping``).
_PRESENCE_BOOKKEEPING = (
    ("presence_available", "_handle_available"),
    ("presence_dnd", "_handle_available"),
    ("presence_xa", "_handle_available"),
    ("presence_chat", "_handle_available"),
    ("presence_away", "_handle_available"),
    ("presence_unavailable", "_handle_unavailable"),
    ("presence_subscribe", "_handle_subscribe"),
    ("presence_subscribed", "_handle_subscribed"),
    ("presence_unsubscribe", "_handle_unsubscribe"),
    ("presence_unsubscribed", "_handle_unsubscribed"),
    ("roster_subscription_request", "_handle_new_subscription"),
    ("roster_update", "_handle_roster"),
)


def presence_bookkeeping(client: slixmpp.ClientXMPP) -> list[tuple[str, Callable]]:
    """(event, handler) for each of slixmpp's own presence and roster event handlers: the roster bookkeeping
    every client registers, which only the ``Presence`` and ``Roster Update`` stanza handlers ever trigger."""
    return [(event, getattr(client, name)) for event, name in _PRESENCE_BOOKKEEPING]


def claim_before_stanzas(client: slixmpp.ClientXMPP, claims: Callable[[Any], bool]) -> None:
    """Give each top-level element ``client`` receives to ``claims`` first; one it claims (True) goes no further.

    slixmpp's ``data_received`` hands every completed stanza to ``_spawn_event``, which builds a stanza object
    and runs the incoming filters and the handler scan on it. A claimed element skips all of that, XEP-0198's
    ``h`` counter included: only for a client without stream management.
    """
    spawn_event = client._spawn_event

    def spawn_unclaimed(xml: Any) -> None:
        if not claims(xml):
            spawn_event(xml)

    client._spawn_event = spawn_unclaimed


def replace_empty_unacked_queue(client: slixmpp.ClientXMPP, queue: Any) -> bool:
    """Have xep_0198 keep its unacknowledged stanzas in ``queue`` (a deque-like object: ``append``, ``popleft``,
    ``clear``, ``len``, iteration) instead of its ``collections.deque``; only while that is still empty (False:
    nothing changed, or no stream management). For a load session's memory (xmpp_ext.load.smallqueues)."""
    plugin = client.plugin.get(SM_PLUGIN, None)
    if plugin is None or not isinstance(plugin.unacked_queue, deque) or plugin.unacked_queue:
        return False
    plugin.unacked_queue = queue
    return True


def end_stream(client: slixmpp.ClientXMPP, reason: object) -> None:
    """Drop the connection now, ``reason`` being what slixmpp's ``disconnected`` event then carries."""
    client.disconnect_reason = reason
    client.abort()


class StreamManagementState:
    """Read and update ``xep_0198``'s counters (for stanzas our fast paths write with ``send_raw``)."""

    def __init__(self, plugin: Any) -> None:
        self._plugin = plugin

    @property
    def handled(self) -> int:
        return self._plugin.handled

    @property
    def sent(self) -> int:
        return self._plugin.seq

    @property
    def acked(self) -> int:
        return self._plugin.last_ack

    @property
    def unacked(self) -> deque:
        """``(seq, stanza)`` pairs kept for re-sending until acknowledged (the live queue, not a copy)."""
        return self._plugin.unacked_queue

    @property
    def counting_out(self) -> bool:
        """Whether a stanza written now must be counted: enabled, or a stream that may still be resumed."""
        plugin = self._plugin
        return bool(plugin.enabled_out or (plugin.sm_id and plugin.allow_resume))

    @property
    def enabled_in(self) -> bool:
        return bool(self._plugin.enabled_in)

    @property
    def resumable(self) -> bool:
        return bool(self._plugin.sm_id and self._plugin.allow_resume)

    def count_out(self, stanza: object, max_seq: int) -> bool:
        """Record one stanza written now; True when the ack window is full (time to ask for an ack)."""
        plugin = self._plugin
        plugin.seq = (plugin.seq + 1) % max_seq
        plugin.unacked_queue.append((plugin.seq, stanza))
        plugin.window_counter -= 1
        if plugin.window_counter > 0:
            return False
        plugin.window_counter = plugin.window
        return True

    def set_window(self, window: int) -> None:
        self._plugin.window = self._plugin.window_counter = window

    def count_in(self, max_seq: int) -> None:
        """Count one message, presence or iq received as handled, as xep_0198's incoming filter does
        (``_handle_incoming``): for a stanza claimed before slixmpp's filters see it (``claim_before_stanzas``)."""
        plugin = self._plugin
        if plugin.enabled_in:
            plugin.handled = (plugin.handled + 1) % max_seq


#: (object, attribute) pairs this module relies on, checked by ``missing``.
def _accesses(client: slixmpp.ClientXMPP) -> list[tuple[object, str]]:
    accesses: list[tuple[object, str]] = [
        (client, "_XMLStream__filters"),
        (client, "_XMLStream__handlers"),
        (client, "_stream_feature_order"),
        (client, "_session_started"),
        (client, "_always_send_everything"),
        (client, "waiting_queue"),
        (client, "_run_out_filters"),
        (client, "init_parser"),
        (client, "parser"),
        (client, "disconnect_reason"),
        (client, "_start_keepalive"),
        (client, "_spawn_event"),
    ]
    accesses += [(client, name) for _, name in _PRESENCE_BOOKKEEPING]
    plugin = client.plugin.get(SM_PLUGIN, None)
    if plugin is not None:
        accesses += [
            (plugin, name)
            for name in (
                "_handle_incoming",
                "handled",
                "seq",
                "last_ack",
                "unacked_queue",
                "enabled_in",
                "enabled_out",
                "sm_id",
                "allow_resume",
                "window",
                "window_counter",
            )
        ]
    return accesses


def missing(client: slixmpp.ClientXMPP) -> list[str]:
    """The private attributes this module uses that ``client`` (with xep_0198 registered) lacks."""
    return [f"{type(owner).__name__}.{name}" for owner, name in _accesses(client) if not hasattr(owner, name)]
