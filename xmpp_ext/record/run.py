"""One recording: the proxy in front of a running local server, from start until a stop signal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from xmpp_ext.record.proxy import RecordingProxy, Upstream
from xmpp_ext.record.recording import Recording, Step
from xmpp_ext.servers import LocalServer
from xmpp_ext.util.stopsignals import on_stop_signals


@dataclass(frozen=True)
class Outcome:
    recording: Recording
    problems: list[str]  # connections the proxy could not follow or pass on, one line each


def upstream_of(server: LocalServer) -> Upstream:
    return Upstream(
        host=server.host,
        port=server.port,
        direct_tls_port=server.direct_tls_port,
        domain=server.domain,
        certificate=server.certificates.cert,
        key=server.certificates.key,
        ca_cert=server.ca_cert,
    )


async def record_until_stopped(
    server: LocalServer,
    listening: Callable[[RecordingProxy], None],
    on_session: Callable[[Step], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Outcome:
    """Record through a proxy in front of ``server`` until SIGINT/SIGTERM (or ``stop`` is set).

    ``listening(proxy)`` is called once clients can connect (to write the
    .env and tell the user where), ``on_session(step)`` as each session
    connects and disconnects. OSError if the proxy cannot listen.
    """
    stop = stop or asyncio.Event()
    recording = Recording(on_session=on_session)
    proxy = await RecordingProxy(upstream_of(server), recording).start()
    # The handlers stay while the proxy stops: a second Ctrl-C must not lose what was recorded.
    with on_stop_signals(lambda _signum: stop.set()):
        try:
            listening(proxy)
            await stop.wait()
        finally:
            await proxy.stop()
            recording.end()
    problems = list(dict.fromkeys([*proxy.broken, *recording.notes]))
    if proxy.broken_unnamed:
        problems.append(f"{proxy.broken_unnamed} more connection(s) ended by the recorder")
    if proxy.refused:
        problems.append(f"{proxy.refused} connection(s) refused (the server unreachable, or too many at once)")
    return Outcome(recording, problems)
