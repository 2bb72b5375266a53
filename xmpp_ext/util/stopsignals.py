"""SIGINT (Ctrl-C) and SIGTERM: handled inside a job's event loop, or turned into Ctrl-C for blocking work."""

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


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, for as long as the block runs (main thread only).

    For blocking work outside an event loop (starting a local server): its
    clean-up then runs on SIGTERM too, instead of the process dying with a
    half-started server left behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def stop_signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM do nothing while the block runs (main thread only): for a short last step that must
    finish once the user has asked to stop (writing what a run produced)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def first_sigterm_as_ctrl_c(announce: Callable[[], None] = lambda: None) -> Iterator[None]:
    """The first SIGTERM calls ``announce()`` and raises KeyboardInterrupt; later ones are ignored (main thread).

    For a long run whose Ctrl-C clean-up must not itself be cut short by a second SIGTERM (a test session
    stopping its servers): once one has come, SIGTERM stays ignored, also after the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        announce()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is stop:  # else a SIGTERM came: the process is on its way out
            signal.signal(signal.SIGTERM, previous)
