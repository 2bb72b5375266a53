"""Stop signals end a job cleanly, and what a Ctrl-C leaves behind goes unreported (util/stopsignals)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import warnings
import weakref

import pytest

from xmpp_ext.util.stopsignals import STOP_SIGNALS, forget_interrupted_frames, run_until_stopped


class HalfBuiltLoop:
    """Stands for an event loop whose constructor a SIGINT cut short: its finaliser fails."""

    def __init__(self) -> None:
        raise KeyboardInterrupt  # before ``debug`` is set, as asyncio's loop lost its ``_debug``

    def __del__(self) -> None:
        assert self.debug is not None  # AttributeError, reported as "Exception ignored in ..."


async def never_awaited() -> None:
    """Stands for the job asyncio.run was given and never started."""


def start(job, built: list) -> None:
    built.append(weakref.ref(job))
    loop = HalfBuiltLoop.__new__(HalfBuiltLoop)
    built.append(weakref.ref(loop))
    loop.__init__()


class Reports:
    """What the interpreter would print to stderr: unraisable exceptions and warnings."""

    def __init__(self, caught: list) -> None:
        self.unraisable: list[str] = []
        self.caught = caught

    def hook(self, unraisable) -> None:
        self.unraisable.append(repr(unraisable.exc_value))

    def all(self) -> list[str]:
        return self.unraisable + [str(warning.message) for warning in self.caught]


@pytest.fixture
def reports(monkeypatch):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reports = Reports(caught)
        monkeypatch.setattr(sys, "unraisablehook", reports.hook)
        yield reports


def interrupted(built: list, forget: bool) -> None:
    try:
        start(never_awaited(), built)
    except KeyboardInterrupt as interrupt:
        if forget:
            forget_interrupted_frames(interrupt)
            assert all(ref() is None for ref in built), "freed inside the handler"


def test_the_leftovers_of_an_interrupt_are_reported_when_left_to_the_interpreter(reports):
    built: list = []
    interrupted(built, forget=False)
    assert all(ref() is None for ref in built)
    assert any("AttributeError" in report for report in reports.all()), reports.all()
    assert any("was never awaited" in report for report in reports.all()), reports.all()


def test_forgotten_frames_are_freed_in_the_handler_and_nothing_is_reported(reports):
    built: list = []
    interrupted(built, forget=True)
    assert reports.all() == []
    assert sys.unraisablehook == reports.hook  # put back: later failures are reported again


@pytest.fixture
def previous_handlers():
    """Python-level handlers that record a signal instead of acting on it, put back after the test."""
    received: list[int] = []
    before = {signum: signal.signal(signum, lambda signum, _frame: received.append(signum)) for signum in STOP_SIGNALS}
    yield received
    for signum, handler in before.items():
        signal.signal(signum, handler)


async def signalled_job(signum: int, cleaned: list[str], clean_up_signal: int | None = None) -> str:
    """A job that gets ``signum`` while it waits, then cleans up (a logout) for a while, signalled again if asked."""
    try:
        os.kill(os.getpid(), signum)
        await asyncio.sleep(30)
        return "ran on"
    finally:
        if clean_up_signal is not None:
            os.kill(os.getpid(), clean_up_signal)
        await asyncio.sleep(0.05 if clean_up_signal is None else 30)
        cleaned.append("logged out")


@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_a_stop_signal_cancels_the_job_lets_it_clean_up_then_passes_the_signal_on(previous_handlers, signum):
    cleaned: list[str] = []
    with pytest.raises(KeyboardInterrupt):  # the recording handler returned: the job was stopped all the same
        run_until_stopped(signalled_job(signum, cleaned))
    assert cleaned == ["logged out"]
    assert previous_handlers == [signum]  # passed on once the loop was closed
    os.kill(os.getpid(), signum)  # and the handlers from before are back
    assert previous_handlers == [signum, signum]


def test_the_callers_handler_decides_what_the_signal_does_after_the_job():
    cleaned: list[str] = []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt) as raised:
        run_until_stopped(signalled_job(signal.SIGINT, cleaned))
    assert cleaned == ["logged out"]
    assert raised.traceback[-1].name == "run_until_stopped"  # Python's Ctrl-C handler raised it, after the job


def test_a_signal_as_the_job_returns_is_not_lost(previous_handlers):
    async def job() -> str:
        await asyncio.sleep(0)
        os.kill(os.getpid(), signal.SIGTERM)  # no await after it: the job ends before the loop looks again
        return "done"

    with pytest.raises(KeyboardInterrupt):
        run_until_stopped(job())
    assert previous_handlers == [signal.SIGTERM]


def test_a_second_signal_while_the_job_cleans_up_interrupts_at_once(previous_handlers):
    cleaned: list[str] = []
    with pytest.raises(KeyboardInterrupt):  # its clean-up would wait 30 s
        run_until_stopped(signalled_job(signal.SIGINT, cleaned, clean_up_signal=signal.SIGINT))
    assert cleaned == []
    assert previous_handlers == []  # the hurry is ours: nothing passed on


def test_a_signal_the_caller_ignores_stays_ignored():
    async def job() -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        return "done"

    before = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        assert run_until_stopped(job()) == "done"
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_job_that_ends_returns_its_result_and_leaves_the_handlers_as_they_were(previous_handlers):
    async def job() -> str:
        await asyncio.sleep(0)
        return "done"

    assert run_until_stopped(job()) == "done"
    os.kill(os.getpid(), signal.SIGTERM)
    assert previous_handlers == [signal.SIGTERM]


def test_a_job_that_fails_raises_its_own_error():
    async def job() -> None:
        raise LookupError("the job's own")

    with pytest.raises(LookupError, match="the job's own"):
        run_until_stopped(job())


def test_a_stop_as_the_awaited_stanza_arrives_is_not_swallowed():
    """asyncio.wait_for (3.11) returns the result when it is cancelled just as what it awaits completes: a Ctrl-C
    at that moment would be lost and the run go on. Waits with a time-out use asyncio.timeout instead."""
    import slixmpp

    from xmpp_ext.pytest_plugin import expect_stanza
    from xmpp_ext.session.slixmpp_private import incoming_filters

    async def arrive_and_stop() -> asyncio.Task:
        client = slixmpp.ClientXMPP("me@localhost", "x")
        waiting = asyncio.ensure_future(expect_stanza(client, lambda _stanza: True))
        await asyncio.sleep(0)  # waiting for its stanza now
        watch = incoming_filters(client)[0]
        watch(client.Message())  # the stanza arrives...
        waiting.cancel()  # ...as the run is stopped
        await asyncio.wait({waiting})
        return waiting

    assert asyncio.run(arrive_and_stop()).cancelled()
