"""A load worker process: its share of the pairs on its own event loop, reporting every second.

``python -m xmpp_ext.load.worker``, started by the coordinator with its plan as
the first line of stdin (passwords included: never on the command line). Then:

1. logs its sessions in (at its part of ``--ramp``, or as fast as the server
   takes them, ``LOGIN_CONCURRENCY`` at a time) and says ``ready``;
2. waits for ``go T`` on stdin, T being the wall-clock time when every worker
   starts exchanging;
3. exchanges (closed or open loop) until the duration or its part of the
   exchanges is done, waits for the replies still due (at most ``timeout``);
4. logs every session out and says ``done``.

``stop`` on stdin or SIGTERM at any point: requests in flight count as lost,
every session is logged out, ``done``. Each second it writes a ``tick`` line
(counts and histograms of that second, gauges) on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass

from xmpp_ext.load import nodes, sessions
from xmpp_ext.load.coalesce import pass_batch
from xmpp_ext.load.exchange import Expiry, Responder, Sender, payload_tag
from xmpp_ext.load.freezer import LoginFreezer
from xmpp_ext.load.plan import LOGIN_CONCURRENCY, LoadPlan, PairAccounts, WorkerShare, decode, per_sender_counts
from xmpp_ext.load.ramp import start_offset
from xmpp_ext.load.tally import Tally, resident_kib
from xmpp_ext.session import ConnectError, Cut, Lost, NewSession, Resumed, Session, SessionEvent
from xmpp_ext.session.userplugin import load_plugin

#: How often requests past their time-out are looked for (a request is lost within this much of its time-out).
EXPIRY_PERIOD = 0.25
#: Shortest wait of the open-loop schedule between two ticks (each tick issues every request due by then).
MIN_TICK = 0.0005
#: Longest line the coordinator sends (the plan: about 200 bytes a pair).
MAX_PLAN_BYTES = 64 * 1024 * 1024
#: Failed logins, with none succeeding, after which a worker stops trying (the rest count as ``not-tried``):
#: a server that takes connections but never answers would otherwise hold a large run for hours of time-outs.
MAX_FAILURES_WITHOUT_SUCCESS = 128


@dataclass
class Pair:
    sender_session: Session | None = None
    responder_session: Session | None = None
    sender: Sender | None = None
    responder: Responder | None = None


class Worker:
    def __init__(self, plan: LoadPlan, share: WorkerShare, write) -> None:
        self.plan = plan
        self.share = share
        self.write = write
        self.tally = Tally()
        self.pairs = [Pair() for _ in share.pairs]
        self.phase = "login"
        self.stopping = False
        self.up = 0  # sessions logged in now
        self.behind = 0.0  # open loop: how late the schedule ran in the current second (s)
        self.rss_before_kib = resident_kib()
        self.cpu_start = time.process_time()
        self._stop = asyncio.Event()
        self._go: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._sessions: list[Session] = []
        self._login_failures = 0
        self._freezer = LoginFreezer()  # collections stay small while thousands log in
        self._expiry = Expiry()
        # load --responder-plugin: the user's plugin, registered on every responder session, answers.
        self._responder_plugins = sessions.LOAD_PLUGINS
        if plan.responder_plugin is not None:
            self._responder_plugins = (load_plugin(plan.responder_plugin).name,)

    # -- control -------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping = True
        self._stop.set()

    def go(self, start: float) -> None:
        if not self._go.done():
            self._go.set_result(start)

    async def run(self) -> None:
        ticker = asyncio.ensure_future(self._tick_every_second())
        try:
            login_started = time.time()
            await self._until_stopped(self._log_in_all())
            sessions.freeze_logged_in()
            self.write(
                {
                    "type": "ready",
                    "up": self.up,
                    "rss_before_kib": self.rss_before_kib,
                    "rss_kib": resident_kib(),
                    "cpu_start_s": self.cpu_start,
                    "login_started": login_started,
                    "logged_in_at": time.time(),
                    "cpu_s": time.process_time(),
                }
            )
            self.phase = "ready"
            start = await self._until_stopped(self._go)
            if start is not None and not self.stopping:
                self.phase = "run"
                cpu_go = time.process_time()
                await self._exchange(start)
                self.write({"type": "exchanged", "cpu_go_s": cpu_go, "cpu_s": time.process_time()})
        finally:
            for pair in self.pairs:
                if pair.sender is not None:
                    pair.sender.abandon()
            self.phase = "logout"
            ticker.cancel()
            self._tick()
            await sessions.log_out_all(self._sessions)
            self.write({"type": "done", "cpu_s": time.process_time(), "rss_kib": resident_kib()})

    async def _until_stopped(self, awaitable):
        """``awaitable``'s result, or None once stop() is called first (it is then cancelled)."""
        task = asyncio.ensure_future(awaitable)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None

    # -- seconds -------------------------------------------------------------------------

    async def _tick_every_second(self) -> None:
        while True:
            now = time.time()
            second = int(now - self.plan.epoch)
            await asyncio.sleep(self.plan.epoch + second + 1 - now)
            self._tick(second)

    def _tick(self, second: int | None = None) -> None:
        if second is None:
            second = int(time.time() - self.plan.epoch)
        senders = [pair.sender for pair in self.pairs if pair.sender is not None]
        gauges = {
            "up": self.up,
            "in_flight": sum(sender.in_flight for sender in senders),
            "waiting": sum(sender.waiting for sender in senders),
            "behind_ms": round(self.behind * 1000, 3),
        }
        self.behind = 0.0
        self.write(self.tally.tick(second, self.phase, gauges))

    # -- logging in ----------------------------------------------------------------------

    async def _log_in_all(self) -> None:
        plan, share = self.plan, self.share
        concurrency = asyncio.Semaphore(LOGIN_CONCURRENCY)
        started = time.monotonic()
        tasks = []
        order = 0
        for index, accounts in enumerate(share.pairs):
            for role in ("responder", "sender"):
                if share.ramp:
                    delay = started + start_offset(order, share.ramp) - time.monotonic()
                    if delay > 0:  # the rest of this tick's logins start in this same loop pass
                        await asyncio.sleep(delay)
                order += 1
                tasks.append(asyncio.ensure_future(self._log_in(index, role, accounts, concurrency)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        kind = plan.kind
        defer = pass_batch(asyncio.get_running_loop()).defer
        for index, pair in enumerate(self.pairs):
            if pair.sender_session is None or pair.responder_session is None:
                continue
            for session in (pair.sender_session, pair.responder_session):
                session.writer.defer_flushes_to(defer)  # one loop callback flushes every session of a pass
            if plan.responder_plugin is None:
                responder = pair.responder_session
                pair.responder = Responder(responder.client, responder.writer, payload_tag(plan.payload))
            peer = pair.responder_session.client.boundjid.full
            client, writer = pair.sender_session.client, pair.sender_session.writer
            pair.sender = Sender(
                client, writer, peer, kind, self.tally, share.first + index, self._expiry, payload=plan.payload
            )

    async def _log_in(self, index: int, role: str, accounts: PairAccounts, concurrency: asyncio.Semaphore) -> None:
        account = accounts.sender if role == "sender" else accounts.responder
        settings = sessions.settings_for(self.plan, account, nodes.port_for(self.plan, self.share.first + index, role))
        async with concurrency:
            if self._login_failures >= MAX_FAILURES_WITHOUT_SUCCESS and not self._sessions:
                self.tally.login_failed("not-tried")
                return
            plugins = self._responder_plugins if role == "responder" else sessions.LOAD_PLUGINS
            session = sessions.new_session(
                settings, self.plan.stream_management, self._on_session_event, plugins, sasl=self.plan.sasl
            )
            began = time.monotonic()
            try:
                await sessions.log_in(session)
            except asyncio.CancelledError:  # stopped while logging in: no half-open connection left behind
                await sessions.log_out_all([session], wait=0.5)
                raise
            except ConnectError as exc:
                self.tally.login_failed(exc.cause)
                self._login_failures += 1
                return
            self.tally.logged_in(time.monotonic() - began)
        self.up += 1
        self._sessions.append(session)
        setattr(self.pairs[index], f"{role}_session", session)
        self._freezer.logged_in()

    # -- connections during the run ------------------------------------------------------

    def _on_session_event(self, event: SessionEvent) -> None:
        """What the session layer says about a session's connection: counted, and sessions up kept right."""
        match event:
            case Cut():
                self.up -= 1
                self.tally.disconnected += 1
            case Resumed():
                self.up += 1
                self.tally.resumed += 1
            case NewSession():
                # The server did not resume: replies to requests in flight went with the old session.
                self.up += 1
                self.tally.new_sessions += 1
            case Lost():
                self.tally.sessions_lost += 1

    # -- exchanging ----------------------------------------------------------------------

    async def _exchange(self, start_wall: float) -> None:
        plan, share = self.plan, self.share
        start = time.monotonic() + (start_wall - time.time())
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        senders = [pair.sender for pair in self.pairs if pair.sender is not None]
        if plan.stall_at is not None:
            asyncio.get_running_loop().call_later(plan.stall_at, self._stall_responders)
        end = start + plan.duration if plan.duration is not None else None
        expiry = asyncio.ensure_future(self._expire_every_period())
        try:
            if senders and plan.open_loop:
                await self._until_stopped(self._schedule(senders, share.rate or 0.0, share.exchanges, start, end))
            elif senders:
                counts = per_sender_counts(share.exchanges, len(senders)) if share.exchanges is not None else None
                for number, sender in enumerate(senders):
                    sender.start_closed_loop(plan.window or 1, counts[number] if counts else None)
                await self._until_stopped(self._until_done(senders, end))
            for sender in senders:
                sender.stop()
            if not self.stopping:
                self.phase = "drain"
                await self._until_stopped(self._until_done(senders, None))
        finally:
            expiry.cancel()

    def _stall_responders(self) -> None:
        for pair in self.pairs:
            if pair.responder is not None:
                pair.responder.stall(self.plan.stall_for)

    async def _schedule(
        self, senders: list[Sender], rate: float, count: int | None, start: float, end: float | None
    ) -> None:
        """Open loop: request k is due at start + k/rate, round robin over the senders; ``count`` of them in
        all, or as many as are due before ``end`` (rate x duration, exactly).

        A tick issues every request due by then and writes them at once (the pass batch run at its end): one
        loop callback and no task wake-up per tick, however many sessions it wrote to.
        """
        if rate <= 0:
            return
        if count is None and end is not None:
            count = round((end - start) * rate)
        loop = asyncio.get_running_loop()
        batch = pass_batch(loop)
        all_issued = loop.create_future()
        issued = 0
        timer: asyncio.TimerHandle | None = None

        def tick() -> None:
            nonlocal issued, timer
            if all_issued.done():  # stopped
                return
            try:
                now = time.monotonic()
                due = start + issued / rate
                if due <= now:
                    self.behind = max(self.behind, now - due)
                while due <= now and (count is None or issued < count):
                    senders[issued % len(senders)].issue(due)
                    issued += 1
                    due = start + issued / rate
                batch.run()
            except Exception as exc:  # the schedule ends with it, as the coroutine it replaces would have
                all_issued.set_exception(exc)
                return
            if count is not None and issued >= count:
                all_issued.set_result(None)
                return
            timer = loop.call_later(max(MIN_TICK, due - time.monotonic()), tick)

        tick()
        try:
            await all_issued
        finally:
            all_issued.cancel()
            if timer is not None:
                timer.cancel()
        for sender in senders:
            sender.issued_all()
        await self._until_done(senders, end)

    async def _until_done(self, senders: list[Sender], end: float | None) -> None:
        """Until every sender has finished (closed loop with counts, or stopped), or ``end`` passes."""
        while not all(sender.finished for sender in senders):
            if end is not None and time.monotonic() >= end:
                return
            await asyncio.sleep(0.05)

    async def _expire_every_period(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_PERIOD)
            self._expiry.expire(time.monotonic() - self.plan.timeout)


# -- the process ---------------------------------------------------------------------------


class Channel:
    """JSON lines to the coordinator on stdout; a closed pipe (the coordinator is gone) ends the worker."""

    def __init__(self, worker_stop) -> None:
        self._stop = worker_stop
        self.closed = False

    def write(self, message: dict[str, object]) -> None:
        if self.closed:
            return
        try:
            sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            self.closed = True
            self._stop()


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_PLAN_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = await reader.readline()
    if not line:
        return
    plan, share = decode(line.decode())
    sessions.prepare_process()
    stopper: list = []
    channel = Channel(lambda: stopper and stopper[0]())
    worker = Worker(plan, share, channel.write)
    stopper.append(worker.stop)
    loop.add_signal_handler(signal.SIGTERM, worker.stop)

    async def commands() -> None:
        while True:
            command = await reader.readline()
            if not command:  # the coordinator is gone
                worker.stop()
                return
            word, _, argument = command.decode().strip().partition(" ")
            if word == "go":
                worker.go(float(argument))
            elif word == "stop":
                worker.stop()

    listening = asyncio.ensure_future(commands())
    try:
        await worker.run()
    finally:
        listening.cancel()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides; it tells us with `stop`
    asyncio.run(main())
