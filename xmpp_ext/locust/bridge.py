"""The bridge between Locust (gevent) and slixmpp (asyncio): one asyncio loop per process, in a greenlet.

``import locust`` monkey-patches the process with gevent: sockets, ``select``,
``selectors``, ``ssl``, threads and their locks all become cooperative. An
asyncio loop started in a greenlet then waits in gevent's selector, and so
yields to the other greenlets (Locust's users, its runner) while it has
nothing to do. A user submits a coroutine with
``asyncio.run_coroutine_threadsafe``, which wakes the loop through its
self-pipe, and waits with ``.result()``, whose lock gevent has made
cooperative: the loop greenlet runs while the user waits. (Waiting through
``asyncio-gevent``'s ``future_to_greenlet`` instead was seen to deadlock: the
loop was never woken.)

Everything asynchronous (sessions, exchanges, their timing) stays on that one
loop, as in an ``xmppext load`` worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import gevent

T = TypeVar("T")

#: Seconds closing the loop may take at the end of the process (sessions are logged out before).
CLOSE_TIMEOUT = 5.0


class LoopBridge:
    """An asyncio event loop running in its own greenlet; ``run`` a coroutine on it from any other greenlet."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """``coroutine``'s result (or exception), waited for at most ``timeout`` seconds (TimeoutError)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its greenlet (before the interpreter ends: a loop left running is torn down badly)."""
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):  # as asyncio.run ends: no task left pending on a closed loop
            self.run(_cancel_other_tasks(), CLOSE_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._greenlet.join(CLOSE_TIMEOUT)
        if self.loop.is_running():
            self._greenlet.kill(block=True, timeout=CLOSE_TIMEOUT)
        if not self.loop.is_running():
            self.loop.close()


async def _cancel_other_tasks() -> None:
    """Cancel every task of the running loop but this one (slixmpp's filters, ...) and let them end."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


_bridge: LoopBridge | None = None


def process_bridge() -> LoopBridge:
    """This process's bridge, started on first use (with the load engine's process-wide settings).

    Nothing here yields to another greenlet, so two users starting at once still share one bridge.
    """
    global _bridge
    if _bridge is None:
        from xmpp_ext.load import sessions

        _bridge = LoopBridge()
        sessions.prepare_process(_bridge.loop)
    return _bridge


def close_process_bridge() -> None:
    """Stop this process's bridge, if it was started."""
    global _bridge
    if _bridge is not None:
        _bridge.close()
        _bridge = None
