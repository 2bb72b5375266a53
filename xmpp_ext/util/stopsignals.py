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


def run_until_stopped(job: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(job)``, where SIGINT or SIGTERM cancels the job and is then passed on to the caller's handler.

    Why not asyncio.run's own Ctrl-C handling: it covers SIGINT only, and SIGTERM made Ctrl-C
    (``sigterm_as_ctrl_c``) raises KeyboardInterrupt inside whatever task runs, which then dies with
    "Task exception was never retrieved" while the job runs on. Here the first stop signal cancels the
    job, which unwinds through its ``finally`` blocks (sessions closed, programs stopped, each bounded by
    its own wait); a second one hurries: KeyboardInterrupt at once, as asyncio.run does. Once the loop is
    closed and the caller's handlers are back, the first signal is raised again for them to act on
    (``default_int_handler``: KeyboardInterrupt; a test session's ``first_sigterm_as_ctrl_c``: its
    announcement first), so the caller's policy holds; KeyboardInterrupt if their handler returns.

    The handlers are Python-level (``signal.signal``), as asyncio.Runner's are: a signal is noted the moment
    it arrives, never lost in the loop's wake-up pipe as the job ends. A signal the caller ignores
    (SIG_IGN: a job started in the background by a non-interactive shell) stays ignored.
    """
    stopped: list[int] = []
    running: list[asyncio.Task] = []  # the task running the job, while asyncio.run runs it

    def on_signal(signum: int, _frame: object) -> None:
        stopped.append(signum)
        if not running or running[0].get_loop().is_closed():
            return  # not started (the job will not be) or over: passed on below
        if len(stopped) > 1:
            raise KeyboardInterrupt  # a second stop while the job unwinds: no more waiting
        running[0].get_loop().call_soon_threadsafe(running[0].cancel)

    async def main() -> T:
        running.append(asyncio.current_task())
        if stopped:  # a signal before this task could be cancelled: the job never starts
            job.close()
            raise asyncio.CancelledError
        return await job

    previous = _install(on_signal)
    try:
        result = asyncio.run(main())
    except (asyncio.CancelledError, Exception):
        if not stopped:
            raise
    finally:
        running.clear()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not stopped:
        return result
    signal.raise_signal(stopped[0])  # the caller's handler decides: it raises, or the process ends
    raise KeyboardInterrupt


def _install(handler: Callable[[int, object], None]) -> dict[int, Any]:
    """``handler`` for each stop signal the caller does not ignore (main thread only); what was there before."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in STOP_SIGNALS:
        before = signal.getsignal(signum)
        if before in (signal.SIG_IGN, None):  # ignored, or set outside Python: left as it is
            continue
        previous[signum] = signal.signal(signum, handler)
    return previous


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
