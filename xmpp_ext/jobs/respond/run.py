"""The respond job: log in, answer until told to stop, come back after every cut.

The session (``xmpp_ext.session``) reconnects with the one back-off and
resumes the stream when the server still has it; the job announces itself
(presence, READY) on each new session and reports every step as a record.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from xmpp_ext.jobs.respond.records import (
    Disconnected,
    Finished,
    Ready,
    Reconnected,
    ReconnectFailed,
    Record,
    Resumed,
)
from xmpp_ext.jobs.respond.responder import RESPONDER_PLUGINS, Responder, RespondOptions
from xmpp_ext.session import (
    AttemptFailed,
    ConnectError,
    ConnectionSettings,
    Cut,
    Lost,
    NewSession,
    ReconnectPolicy,
    Session,
    SessionEvent,
    StreamManagement,
    on_session_ready,
)
from xmpp_ext.session import Resumed as StreamResumed
from xmpp_ext.util.stopsignals import on_stop_signals

log = logging.getLogger(__name__)


async def respond(
    settings: ConnectionSettings,
    options: RespondOptions,
    on_record: Callable[[Record], None],
    show_received: bool = False,
) -> int:
    """Run a responder until stopped (signal, ``count``, ``duration``); returns how many stanzas it answered.

    :raises ConnectError: no first session, or the session ended for good (another client took over our
        full JID: stream error conflict; or another stream error that says not to come back).
    """
    session = Session(
        settings,
        RESPONDER_PLUGINS if options.plugin is None else ("xep_0030", options.plugin),
        stream_management=StreamManagement() if options.stream_management else None,
        reconnect=ReconnectPolicy(),
    )
    client = session.client
    stop = asyncio.Event()
    if options.plugin is None:
        responder = Responder(
            client, session.writer, options, on_record, on_enough=stop.set, show_received=show_received
        )
    else:
        from xmpp_ext.jobs.respond.plugged import PluginResponder

        responder = PluginResponder(client, options, on_record, on_enough=stop.set, show_received=show_received)

    def announce_ready(_event: object) -> None:
        # Not at slixmpp's session_start: whoever acts on READY (cuts us, restarts the server) must find a
        # session that comes back, stream management negotiated. A resumed stream is the same session: no READY.
        client.send_presence()
        ready = f"READY {client.boundjid.full}"
        # The FIFO first: whoever watches our output may act on READY (even stop us) the moment it appears.
        if options.ready_fifo is not None:
            _write_line(options.ready_fifo, ready)
        on_record(Ready(client.boundjid.full))

    def on_session_event(event: SessionEvent) -> None:
        match event:
            case Cut(reason=reason):
                on_record(Disconnected(reason))
            case AttemptFailed(reason=reason, next_delay=delay):
                on_record(ReconnectFailed(reason, delay))
            case StreamResumed(after_s=after, resent=resent):
                # The server kept our session: same full JID, presence and queued requests (answered now, once).
                on_record(Resumed(client.boundjid.full, after, resent))
            case NewSession(after_s=after, refusal=refusal):
                responder.new_stream()
                on_record(Reconnected(after, refusal.cause if refusal is not None else None))  # READY follows
            case Lost():
                stop.set()

    on_session_ready(client, announce_ready)
    session.add_listener(on_session_event)
    this_task = asyncio.current_task()
    started = False

    def on_signal(_signum: int) -> None:
        stop.set()
        if not started and this_task is not None:
            this_task.cancel()  # still logging in: nothing to finish

    try:
        with on_stop_signals(on_signal):
            try:
                await session.start()
            except asyncio.CancelledError:
                if stop.is_set():
                    return 0
                raise
            started = True
            if options.duration is not None:
                asyncio.get_running_loop().call_later(options.duration, stop.set)
            await stop.wait()
    finally:
        await session.close()
    on_record(Finished(responder.answered, responder.most_waiting if options.delay else None, responder.duplicates))
    if session.lost.done():
        raise ConnectError(_lost_for_good(session.lost.result(), client.boundjid.full))
    return responder.answered


def _lost_for_good(lost: Lost, jid: str) -> str:
    if lost.condition == "conflict":
        # Another client logged in with our full JID; reconnecting would only knock it off in turn, forever.
        return (
            f"another client logged in as {jid} ({lost.reason}); stopping. "
            "Give each responder its own resource (-j user@domain/resource)"
        )
    return f"the server ended the session ({lost.reason}); stopping"


def _write_line(fifo: Path, line: str) -> None:
    try:
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:  # nobody reading any more: run-pair already has its READY
        log.debug("cannot report readiness through %s: %s", fifo, exc)
        return
    try:
        os.write(descriptor, f"{line}\n".encode())
    finally:
        os.close(descriptor)
