"""SIGINT (Ctrl-C) and SIGTERM, handled inside a job's event loop for as long as it runs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(handler: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Call ``handler(signum)`` on SIGINT or SIGTERM while the block runs, then restore the defaults.

    Only the main thread can handle signals: a job run on another thread
    leaves them to its caller.
    """
    loop = asyncio.get_running_loop()
    signums = STOP_SIGNALS if threading.current_thread() is threading.main_thread() else ()
    for signum in signums:
        loop.add_signal_handler(signum, handler, signum)
    try:
        yield
    finally:
        for signum in signums:
            loop.remove_signal_handler(signum)
