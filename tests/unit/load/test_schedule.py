"""The open-loop schedule of a load worker: every request due at start + k/rate, issued with that due time even
when the worker's loop was held up (no coordinated omission), round robin over the senders."""

from __future__ import annotations

import asyncio
import time

import pytest

from xmpp_ext.load.plan import LoadPlan, WorkerShare
from xmpp_ext.load.worker import Worker


class Issued:
    """A sender that only notes what it was asked to send."""

    def __init__(self) -> None:
        self.dues: list[float] = []
        self.all_issued = False
        self.finished = True

    def issue(self, due: float) -> None:
        self.dues.append(due)

    def issued_all(self) -> None:
        self.all_issued = True


async def schedule(count: int, rate: float, hold_up: float = 0.0) -> tuple[float, list[Issued], Worker]:
    worker = Worker(LoadPlan(pairs=2, rate=rate), WorkerShare(0, 0, [], rate, None, None), lambda message: None)
    senders = [Issued(), Issued()]
    start = time.monotonic()
    if hold_up:
        asyncio.get_running_loop().call_soon(time.sleep, hold_up)  # the loop busy elsewhere: a stalled generator
    await asyncio.wait_for(worker._schedule(senders, rate, count, start, None), 10)
    return start, senders, worker


def test_each_request_is_due_at_its_place_in_the_schedule_round_robin():
    start, senders, _ = asyncio.run(schedule(count=10, rate=500))
    assert senders[0].dues == pytest.approx([start + k / 500 for k in range(0, 10, 2)], abs=1e-9)
    assert senders[1].dues == pytest.approx([start + k / 500 for k in range(1, 10, 2)], abs=1e-9)
    assert senders[0].all_issued and senders[1].all_issued


def test_requests_issued_late_keep_the_time_they_were_due():
    start, senders, worker = asyncio.run(schedule(count=20, rate=1000, hold_up=0.1))
    dues = sorted(senders[0].dues + senders[1].dues)
    assert dues == pytest.approx([start + k / 1000 for k in range(20)], abs=1e-9)  # not shifted by the stall
    assert worker.behind >= 0.09  # and the worker says how late it ran
