"""SIGINT (Ctrl-C) and SIGTERM: handled inside a job's event loop, or turned into Ctrl-C for blocking work."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(handler: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Call ``handler(signum)`` on SIGINT or SIGTERM while the block runs, then put back the handlers before it.

    Only the main thread can handle signals: a job run on another thread
    leaves them to its caller.
    """
    loop = asyncio.get_running_loop()
    signums = STOP_SIGNALS if threading.current_thread() is threading.main_thread() else ()
    # asyncio's remove_signal_handler leaves SIGTERM at SIG_DFL: put back what the caller had instead
    # (sigterm_as_ctrl_c's Ctrl-C, say), or a SIGTERM after this block would kill without clean-up.
    previous = {signum: signal.getsignal(signum) for signum in signums}
    for signum in signums:
        loop.add_signal_handler(signum, handler, signum)
    try:
        yield
    finally:
        for signum in signums:
            loop.remove_signal_handler(signum)
            if previous[signum] is not None:  # None: set outside Python, nothing to put back
                signal.signal(signum, previous[signum])


#: How long a stopped job may take to unwind before it is left to asyncio.run's own cancellation.
UNWIND_BOUND = 10.0
#: How often a stopped job that is still running is cancelled again.
CANCEL_AGAIN = 0.25


def run_until_stopped(job: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(job)``, with SIGINT and SIGTERM cancelling the job, then raising KeyboardInterrupt.

    Why not asyncio.run's own Ctrl-C handling: it cancels once and covers SIGINT only. SIGTERM made
    Ctrl-C (``sigterm_as_ctrl_c``) raises KeyboardInterrupt inside whatever task runs, which then dies
    with "Task exception was never retrieved"; and a cancellation can be swallowed (Python 3.11's
    ``asyncio.wait_for`` returns the result when the awaited future completes as it is cancelled), after
    which the job runs on as if nothing had happened. Here a stop signal cancels the job, and cancels it
    again while it still runs (bounded by UNWIND_BOUND), so it always unwinds through its ``finally``
    blocks (sessions closed, programs stopped); the KeyboardInterrupt comes once its loop is closed.
    """
    stopped: list[signal.Signals] = []

    async def main() -> T:
        task = asyncio.ensure_future(job)
        asked = asyncio.Event()

        def stop(signum: signal.Signals) -> None:
            stopped.append(signum)
            task.cancel()
            asked.set()

        with on_stop_signals(stop):
            asking = asyncio.ensure_future(asked.wait())
            await asyncio.wait({task, asking}, return_when=asyncio.FIRST_COMPLETED)
            asking.cancel()
            deadline = asyncio.get_running_loop().time() + UNWIND_BOUND
            while not task.done() and asyncio.get_running_loop().time() < deadline:
                await asyncio.wait({task}, timeout=CANCEL_AGAIN)
                task.cancel()  # a no-op once it is done
        if not stopped:
            return task.result()
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: what a stopped job raised on its way out is not news
        raise _Stopped

    try:
        return asyncio.run(main())
    except _Stopped:
        raise KeyboardInterrupt from None


class _Stopped(Exception):
    """The job was stopped by a signal: KeyboardInterrupt once asyncio.run has closed the loop."""


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


def forget_interrupted_frames(interrupt: BaseException) -> None:
    """Free, unreported, what a Ctrl-C left half-made in the frames it cut through.

    SIGINT (or SIGTERM made Ctrl-C) can land inside asyncio itself: while ``asyncio.run`` builds a
    script's event loop, or closes one. The frames it unwinds then hold a loop half-built or unclosed
    and a coroutine never awaited; freed the usual way, when the handler that caught the interrupt ends,
    they print "Exception ignored in BaseEventLoop.__del__" with a traceback and "coroutine ... was never
    awaited" after the command's one-line message. Call this in that handler: the frames are freed now,
    with both reports silenced.
    """
    import gc
    import sys
    import warnings

    previous = sys.unraisablehook
    sys.unraisablehook = lambda _unraisable: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seen: set[int] = set()
            exception: BaseException | None = interrupt
            while exception is not None and id(exception) not in seen:
                seen.add(id(exception))
                exception.__traceback__ = None
                exception = exception.__cause__ or exception.__context__
            gc.collect()
    finally:
        sys.unraisablehook = previous
