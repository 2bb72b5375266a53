"""The parent of a load run: starts the workers, starts them exchanging together, merges, stops them.

Workers run in their own sessions (Ctrl-C on the terminal reaches only this
process), die with it (PR_SET_PDEATHSIG), and get their plan, passwords
included, on stdin. The first SIGINT or SIGTERM asks every worker to stop
(requests in flight count as lost, sessions are logged out, the totals so far
are kept); a second one kills them. A worker that exits without saying
``done`` is reported as crashed; what it reported until then stays counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from xmpp_ext.load.exchange import payload_tag
from xmpp_ext.load.histogram import Latencies
from xmpp_ext.load.plan import LoadPlan, PairAccounts, encode, split
from xmpp_ext.load.results import SATURATED, PhaseMarks, RunAggregate, Second, Totals
from xmpp_ext.util.children import die_with_parent, group_cpu_seconds
from xmpp_ext.util.stopsignals import on_stop_signals

#: Seconds workers get to log out and say done after being told to stop, before they are killed.
STOP_GRACE = 20.0
#: Lines of a worker's stderr kept for the report of its crash.
STDERR_LINES = 20
MAX_LINE = 64 * 1024 * 1024
#: Seconds between the go signal and the start of exchanging (every worker must have read it).
GO_DELAY = 0.3


@dataclass(frozen=True)
class LocalServerInfo:
    """The local server whose CPU is read from /proc (its process groups: a cluster has one per node and one
    for its port mapper), and how many cores it can use."""

    pgids: tuple[int, ...]
    cores: int


@dataclass
class LoadOutcome:
    totals: Totals
    series: list[Second]
    exchanges: Latencies
    login_times: Latencies


class Coordinator:
    def __init__(
        self,
        plan: LoadPlan,
        accounts: list[PairAccounts],
        processes: int,
        server: LocalServerInfo | None = None,
        on_second: Callable[[Second], None] | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.plan = plan
        self.shares = split(plan, accounts, processes)
        self.server = server
        self.on_event = on_event or (lambda _line: None)
        self.aggregate = RunAggregate({share.number: len(share.pairs) for share in self.shares}, on_second)
        self.interrupted: str | None = None
        self._workers: dict[int, asyncio.subprocess.Process] = {}
        self._stderr: dict[int, deque[str]] = {}
        self._signals = 0
        self._stopping = False
        self._all_ready = asyncio.Event()
        self._times = PhaseMarks()  # wall-clock phase boundaries (time.time())
        self._own_cpu = PhaseMarks()  # this process's CPU seconds: the generator is the workers and us
        self._stopped_at: float | None = None
        self._stop_request: asyncio.Future[None] | None = None

    async def run(self) -> LoadOutcome:
        self._times.start = time.time()
        self._mark_cpu("start")
        with on_stop_signals(self._on_signal):
            try:
                for share in self.shares:
                    await self._spawn(share)
                readers = [asyncio.ensure_future(self._read(number)) for number in self._workers]
                sampler = asyncio.ensure_future(self._sample_server())
                watchdog = asyncio.ensure_future(self._kill_after_grace())
                try:
                    await asyncio.gather(*readers)
                finally:
                    sampler.cancel()
                    watchdog.cancel()
            finally:
                await self._reap()
        self.aggregate.close_all()
        return LoadOutcome(self._totals(), self.aggregate.series, self.aggregate.exchanges, self.aggregate.login_times)

    # -- workers -------------------------------------------------------------------------

    async def _spawn(self, share) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "xmpp_ext.load.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
            limit=MAX_LINE,
        )
        self._workers[share.number] = process
        self._stderr[share.number] = deque(maxlen=STDERR_LINES)
        process.stdin.write(encode(self.plan, share).encode() + b"\n")
        await process.stdin.drain()

    async def _read(self, number: int) -> None:
        process = self._workers[number]
        errors = asyncio.ensure_future(self._read_stderr(number))
        try:
            while line := await process.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not ours (a library printing to stdout): ignored
                self.aggregate.receive(number, message)
                if message.get("type") == "ready":
                    await self._maybe_go()
                elif message.get("type") == "exchanged" and all(
                    worker.exchanged or not worker.running for worker in self.aggregate.workers.values()
                ):
                    self._times.exchanged = time.time()
                    self._mark_cpu("exchanged")
            status = await process.wait()
        finally:
            await errors
        self.aggregate.worker_ended(number, status, "\n".join(self._stderr[number]))
        worker = self.aggregate.workers[number]
        if worker.crashed:
            self.on_event(f"worker {number} crashed ({_describe_status(status)}){_last_line(worker.stderr_tail)}")
            await self._maybe_go()

    async def _read_stderr(self, number: int) -> None:
        stream = self._workers[number].stderr
        while line := await stream.readline():
            self._stderr[number].append(line.decode(errors="replace").rstrip()[:500])

    def _mark_cpu(self, phase: str) -> None:
        """The server's and this process's CPU seconds at a phase boundary."""
        setattr(self.aggregate.server_marks, phase, self._server_cpu())
        setattr(self._own_cpu, phase, time.process_time())

    async def _maybe_go(self) -> None:
        workers = self.aggregate.workers.values()
        if self._all_ready.is_set() or not all(worker.ready or not worker.running for worker in workers):
            return
        self._all_ready.set()
        self._times.ready = time.time()
        self._mark_cpu("ready")
        if self._stopping:
            return
        up = sum(int(worker.ready["up"]) for worker in workers if worker.ready)
        self.on_event(f"{up:,} sessions logged in in {self._times.ready - self._times.start:.1f}s")
        if up == 0:  # nothing to exchange: the summary says why the logins failed
            await self._tell_all("stop")
            return
        start = time.time() + GO_DELAY
        self._times.go = start
        self._mark_cpu("go")
        await self._tell_all(f"go {start}")

    async def _tell_all(self, command: str) -> None:
        for process in self._workers.values():
            if process.returncode is None and process.stdin is not None and not process.stdin.is_closing():
                with contextlib.suppress(ConnectionError, RuntimeError):
                    process.stdin.write(command.encode() + b"\n")
                    await process.stdin.drain()

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            self.interrupted = signal.Signals(signum).name
            self._stopping = True
            self._stopped_at = time.time()
            self.on_event(f"interrupted ({self.interrupted}): logging every session out")
            self._stop_request = asyncio.ensure_future(self._tell_all("stop"))
        else:
            self.on_event("interrupted again: stopping the workers at once")
            self._kill_all()

    async def _kill_after_grace(self) -> None:
        while self._stopped_at is None:
            await asyncio.sleep(0.5)
        await asyncio.sleep(STOP_GRACE)
        self.on_event(f"workers still running {STOP_GRACE:g}s after the stop: killed")
        self._kill_all()

    def _kill_all(self) -> None:
        for process in self._workers.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

    async def _reap(self) -> None:
        """Nothing left running: every worker (and anything it started) is gone when this returns."""
        for process in self._workers.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()

    # -- the local server ----------------------------------------------------------------

    def _server_cpu(self) -> float | None:
        return sum(group_cpu_seconds(pgid) for pgid in self.server.pgids) if self.server is not None else None

    async def _sample_server(self) -> None:
        if self.server is None:
            return
        epoch = self.plan.epoch
        last = self._server_cpu()
        while True:
            now = time.time()
            second = int(now - epoch)
            await asyncio.sleep(epoch + second + 1 - now)
            cpu = self._server_cpu()
            self.aggregate.server_sample(second, cpu - last)
            last = cpu

    # -- totals --------------------------------------------------------------------------

    def _totals(self) -> Totals:
        plan, aggregate = self.plan, self.aggregate
        workers = list(aggregate.workers.values())
        ready = [worker.ready for worker in workers if worker.ready]
        exchanged = [worker.exchanged for worker in workers if worker.exchanged]
        up = sum(int(message["up"]) for message in ready) if ready else aggregate.max_up
        logins_ok = aggregate.login_times.count
        times, marks = self._times, aggregate.server_marks
        # From the first login to the last, not counting the workers' start-up.
        login_seconds = (
            max(float(message["logged_in_at"]) for message in ready)
            - min(float(message["login_started"]) for message in ready)
            if ready
            else None
        )
        run_seconds = (times.exchanged - times.go) if times.exchanged and times.go else None
        if run_seconds is None and times.go and self._stopped_at:
            run_seconds = max(0.0, self._stopped_at - times.go)
        own = self._own_cpu
        login_cpu = sum(float(message["cpu_s"]) - float(message["cpu_start_s"]) for message in ready)
        login_cpu += _difference(own.ready, own.start) or 0.0
        run_cpu = sum(float(message["cpu_s"]) - float(message["cpu_go_s"]) for message in exchanged)
        run_cpu += _difference(own.exchanged, own.go) or 0.0
        memory_before = sum(int(message["rss_before_kib"]) for message in ready)
        memory_logged_in = sum(int(message["rss_kib"]) for message in ready)
        memory_exchanging = sum(worker.peak_run_rss_kib for worker in workers if worker.ready)
        run_ok = aggregate.run_ok
        server_login = _difference(marks.ready, marks.start)
        server_run = _difference(marks.exchanged, marks.go)
        server_percent = server_run / run_seconds * 100 if server_run is not None and run_seconds else None
        cores = self.server.cores if self.server is not None else 1
        return Totals(
            kind=plan.kind.value,
            loop=f"open ({plan.rate:g}/s)" if plan.open_loop else f"closed (window {plan.window})",
            pairs=plan.pairs,
            processes=len(self.shares),
            sessions_planned=2 * plan.pairs,
            sessions_up=up,
            login_failed=aggregate.login_failed(),
            login_failed_by=dict(aggregate.login_failed_by),
            logins=aggregate.login_times.summary(),
            logins_per_second=logins_ok / login_seconds if login_seconds else None,
            exchanges=aggregate.exchanges.summary(),
            ok=aggregate.counts["ok"],
            failed=aggregate.failed(),
            failed_by=dict(aggregate.failed_by),
            lost=aggregate.counts["lost"],
            late=aggregate.counts["late"],
            unsent=aggregate.counts["unsent"],
            run_seconds=run_seconds,
            exchanges_per_second=run_ok / run_seconds if run_seconds else None,
            resumed=aggregate.counts["resumed"],
            disconnected=aggregate.counts["disconnected"],
            new_sessions=aggregate.counts["new_sessions"],
            sessions_lost=aggregate.counts["sessions_lost"],
            generator_cpu_per_login_ms=login_cpu / logins_ok * 1000 if logins_ok else None,
            generator_cpu_per_exchange_us=run_cpu / run_ok * 1e6 if run_ok and exchanged else None,
            generator_kib_per_session=(memory_logged_in - memory_before) / up if up and ready else None,
            generator_kib_per_session_exchanging=(
                (memory_exchanging - memory_before) / up if up and memory_exchanging else None
            ),
            generator_cpu_percent=run_cpu / run_seconds * 100 if run_seconds and exchanged else None,
            server_cpu_percent=server_percent,
            server_cpu_per_login_ms=server_login / logins_ok * 1000 if server_login is not None and logins_ok else None,
            server_cpu_per_exchange_us=server_run / run_ok * 1e6 if server_run is not None and run_ok else None,
            server_bottleneck=server_percent is not None and server_percent >= SATURATED * 100 * cores,
            interrupted=self.interrupted is not None,
            crashed=[
                f"worker {worker.number} ({worker.pairs} pairs): {_describe_status(worker.exit_status)}"
                f"{_last_line(worker.stderr_tail)}"
                for worker in aggregate.crashed
            ],
            payload=payload_tag(plan.payload),
            responder_plugin=plan.responder_plugin,
        )


def _difference(later: float | None, earlier: float | None) -> float | None:
    return later - earlier if later is not None and earlier is not None else None


def _describe_status(status: int | None) -> str:
    if status is None:
        return "no exit status"
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return f": {lines[-1]}" if lines else ""
