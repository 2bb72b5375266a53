"""The parent's view of a run: every worker's seconds merged, the totals, and what they mean.

Histograms are merged by adding counts (exact). A second is final once every
worker still running has reported it; its percentiles are computed then and
its histogram dropped, so memory does not grow with the run's length (only
the totals' histograms are kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xmpp_ext.load.histogram import Latencies, LatencySummary

#: A server using at least this share of its cores during the run is called the bottleneck.
SATURATED = 0.9


@dataclass
class Second:
    """One second of the whole run, all workers merged."""

    second: int
    phase: str = ""
    ok: int = 0
    logins: int = 0
    failed: int = 0
    lost: int = 0
    up: int = 0
    in_flight: int = 0
    behind_ms: float = 0.0
    generator_cpu: float = 0.0  # seconds of CPU the workers used in this second
    generator_rss_kib: int = 0
    server_cpu: float | None = None  # seconds of CPU the (local) server used in this second
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    exchanges: Latencies | None = field(default_factory=Latencies, repr=False)  # None once the second is final
    reported: set[int] = field(default_factory=set, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "second": self.second,
            "phase": self.phase,
            "exchanges": self.ok,
            "failed": self.failed,
            "lost": self.lost,
            "p50_ms": _r(self.p50_ms),
            "p99_ms": _r(self.p99_ms),
            "max_ms": _r(self.max_ms),
            "logins": self.logins,
            "sessions": self.up,
            "in_flight": self.in_flight,
            "behind_ms": _r(self.behind_ms),
            "generator_cpu_percent": _r(self.generator_cpu * 100),
            "generator_rss_mib": _r(self.generator_rss_kib / 1024),
            "server_cpu_percent": _r(self.server_cpu * 100) if self.server_cpu is not None else None,
        }


@dataclass
class WorkerState:
    number: int
    pairs: int
    last_second: int = -1
    last_cpu: float | None = None
    rss_kib: int = 0
    ready: dict[str, float] | None = None
    exchanged: dict[str, float] | None = None
    done: bool = False
    running: bool = True
    peak_run_rss_kib: int = 0
    exit_status: int | None = None
    stderr_tail: str = ""

    @property
    def crashed(self) -> bool:
        """Ended without saying done, or with a failure status after it (an error while logging out)."""
        return not self.running and (not self.done or self.exit_status != 0)


@dataclass
class PhaseMarks:
    """A counter (CPU seconds, or the wall clock) read at the phase boundaries."""

    start: float | None = None
    ready: float | None = None
    go: float | None = None
    exchanged: float | None = None


class RunAggregate:
    """Consumes worker messages; ``on_second(Second)`` is called once per final second, in order."""

    PHASE_ORDER = ("login", "ready", "run", "drain", "logout")
    #: The counters a tick carries, summed over workers and seconds.
    COUNTED = ("lost", "late", "unsent", "resumed", "disconnected", "new_sessions", "sessions_lost")

    def __init__(self, workers: dict[int, int], on_second: Callable[[Second], None] | None = None) -> None:
        self.workers = {number: WorkerState(number, pairs) for number, pairs in workers.items()}
        self.on_second = on_second
        self.exchanges = Latencies()
        self.login_times = Latencies()
        self.failed_by: dict[str, int] = {}
        self.login_failed_by: dict[str, int] = {}
        self.counts = dict.fromkeys(("ok", *self.COUNTED), 0)
        self.run_ok = 0  # exchanges that ended in the run and drain phases
        self.series: list[Second] = []
        self._open: dict[int, Second] = {}
        self.max_up = 0
        self.server_cpu: dict[int, float] = {}  # second -> server CPU seconds used in it
        self.server_marks = PhaseMarks()

    # -- messages ------------------------------------------------------------------------

    def receive(self, number: int, message: dict) -> None:
        worker = self.workers[number]
        kind = message.get("type")
        if kind == "tick":
            self._tick(worker, message)
        elif kind == "ready":
            worker.ready = message
        elif kind == "exchanged":
            worker.exchanged = message
        elif kind == "done":
            worker.done = True

    def worker_ended(self, number: int, status: int, stderr_tail: str) -> None:
        worker = self.workers[number]
        worker.running = False
        worker.exit_status = status
        worker.stderr_tail = stderr_tail
        self._close_seconds()

    def _tick(self, worker: WorkerState, message: dict) -> None:
        number = int(message["second"])
        second = self._open.get(number)
        if second is None:
            if self.series and number <= self.series[-1].second:
                second = None  # a worker's last, late tick of a second already closed: totals only
            else:
                second = self._open[number] = Second(number)
        ok, lost = int(message["ok"]), int(message["lost"])
        failed = message["failed"]
        for key, counts in ((self.failed_by, failed), (self.login_failed_by, message["login_failed"])):
            for condition, count in counts.items():
                key[condition] = key.get(condition, 0) + int(count)
        for name in self.COUNTED:
            self.counts[name] += int(message[name])
        self.counts["ok"] += ok
        if message["phase"] in ("run", "drain", "logout"):
            self.run_ok += ok
        exchange_histogram = _decoded(message["exchange_histogram"])
        login_histogram = _decoded(message["login_histogram"])
        if exchange_histogram is not None:
            self.exchanges.add(exchange_histogram)
        if login_histogram is not None:
            self.login_times.add(login_histogram)
        cpu = float(message["cpu_s"])
        cpu_used = cpu - worker.last_cpu if worker.last_cpu is not None else 0.0
        worker.last_cpu = cpu
        worker.rss_kib = int(message["rss_kib"])
        if message["phase"] in ("run", "drain"):
            worker.peak_run_rss_kib = max(worker.peak_run_rss_kib, worker.rss_kib)
        worker.last_second = max(worker.last_second, number)
        if second is not None:
            second.ok += ok
            second.failed += sum(int(count) for count in failed.values())
            second.lost += lost
            second.logins += int(message["logins"])
            second.up += int(message["up"])
            second.in_flight += int(message["in_flight"])
            second.behind_ms = max(second.behind_ms, float(message["behind_ms"]))
            second.generator_cpu += cpu_used
            second.generator_rss_kib += worker.rss_kib
            second.reported.add(worker.number)
            if not second.phase or self.PHASE_ORDER.index(message["phase"]) > self.PHASE_ORDER.index(second.phase):
                second.phase = message["phase"]
            if exchange_histogram is not None and second.exchanges is not None:
                second.exchanges.add(exchange_histogram)
        self._close_seconds()

    def _close_seconds(self) -> None:
        """Close every open second that each running worker has reported (or moved past)."""
        running = [worker for worker in self.workers.values() if worker.running and not worker.done]
        for number in sorted(self._open):
            if any(worker.last_second < number for worker in running):
                break
            self._finish(self._open.pop(number))

    def close_all(self) -> None:
        for number in sorted(self._open):
            self._finish(self._open.pop(number))

    def _finish(self, second: Second) -> None:
        if second.exchanges is not None:
            summary = second.exchanges.summary()
            second.p50_ms, second.p99_ms, second.max_ms = summary.p50_ms, summary.p99_ms, summary.max_ms
            second.exchanges = None  # the totals keep its counts
        second.server_cpu = self.server_cpu.pop(second.second, None)
        self.max_up = max(self.max_up, second.up)
        self.series.append(second)
        if self.on_second is not None:
            self.on_second(second)

    def server_sample(self, second: int, cpu_seconds: float) -> None:
        """The local server used ``cpu_seconds`` of CPU during ``second``."""
        self.server_cpu[second] = cpu_seconds

    # -- totals ------------------------------------------------------------------------

    @property
    def crashed(self) -> list[WorkerState]:
        return [worker for worker in self.workers.values() if worker.crashed]

    def failed(self) -> int:
        return sum(self.failed_by.values())

    def login_failed(self) -> int:
        return sum(self.login_failed_by.values())


@dataclass(frozen=True)
class Totals:
    """The run's summary, as the table, --json and the thresholds see it."""

    kind: str
    loop: str  # "closed (window W)" or "open (R/s)"
    pairs: int
    processes: int
    sessions_planned: int
    sessions_up: int
    login_failed: int
    login_failed_by: dict[str, int]
    logins: LatencySummary
    logins_per_second: float | None  # during the login phase
    exchanges: LatencySummary
    ok: int
    failed: int
    failed_by: dict[str, int]
    lost: int
    late: int
    unsent: int
    run_seconds: float | None
    exchanges_per_second: float | None
    resumed: int
    disconnected: int
    new_sessions: int
    sessions_lost: int  # sessions the session layer gave up on (a final stream error, or no way back)
    generator_cpu_per_login_ms: float | None
    generator_cpu_per_exchange_us: float | None
    generator_kib_per_session: float | None  # logged in, before exchanging
    generator_kib_per_session_exchanging: float | None
    generator_cpu_percent: float | None  # during the run, 100 = one core
    server_cpu_percent: float | None  # during the run, 100 = one core (local servers only)
    server_cpu_per_login_ms: float | None
    server_cpu_per_exchange_us: float | None
    server_bottleneck: bool
    interrupted: bool
    crashed: list[str]
    payload: str | None = None  # load --raw: the payload's element, {namespace}name
    responder_plugin: str | None = None  # load --responder-plugin: MODULE:CLASS

    @property
    def errors(self) -> int:
        return self.failed + self.lost + self.login_failed

    def as_dict(self) -> dict[str, object]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["logins"] = self.logins.as_dict()
        data["exchanges"] = self.exchanges.as_dict()
        data["errors"] = self.errors
        return {name: _r(value) if isinstance(value, float) else value for name, value in data.items()}


def _decoded(text: str | None) -> Latencies | None:
    return Latencies.decode(text) if text else None


def _r(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
