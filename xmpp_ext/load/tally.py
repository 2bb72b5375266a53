"""A worker's counts and histograms for the current second, and the message that carries them to the parent."""

from __future__ import annotations

import os
import time

from xmpp_ext.load.exchange import Outcomes
from xmpp_ext.load.histogram import Latencies

#: Distinct failure conditions kept apart; any further ones are counted as "other" (a peer chooses them).
MAX_CONDITIONS = 32
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def resident_kib() -> int:
    """This process's resident memory now, in KiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_KIB


class Tally(Outcomes):
    """Counts of the current second; ``tick()`` hands them over and starts the next second."""

    def __init__(self) -> None:
        self.exchanges = Latencies()
        self.logins = Latencies()
        self._reset()

    def _reset(self) -> None:
        self.exchanges.reset()
        self.logins.reset()
        self.failed_by: dict[str, int] = {}
        self.lost_count = 0
        self.late_count = 0
        self.unsent_count = 0
        self.login_failed_by: dict[str, int] = {}
        self.resumed = 0
        self.disconnected = 0
        self.new_sessions = 0
        self.sessions_lost = 0

    # -- Outcomes -----------------------------------------------------------------------

    def ok(self, latency: float) -> None:
        self.exchanges.record(latency)

    def failed(self, condition: str) -> None:
        _count(self.failed_by, condition)

    def lost(self) -> None:
        self.lost_count += 1

    def late(self) -> None:
        self.late_count += 1

    def unsent(self, count: int) -> None:
        self.unsent_count += count

    # -- sessions ------------------------------------------------------------------------

    def logged_in(self, seconds: float) -> None:
        self.logins.record(seconds)

    def login_failed(self, cause: str) -> None:
        _count(self.login_failed_by, cause)

    # -- the message ---------------------------------------------------------------------

    def tick(self, second: int, phase: str, gauges: dict[str, object]) -> dict[str, object]:
        """The message for ``second`` (counts since the last tick, plus ``gauges``); then a fresh second."""
        message = {
            "type": "tick",
            "second": second,
            "phase": phase,
            "ok": self.exchanges.count,
            "exchange_histogram": self.exchanges.encode(),
            "logins": self.logins.count,
            "login_histogram": self.logins.encode(),
            "failed": self.failed_by,
            "lost": self.lost_count,
            "late": self.late_count,
            "unsent": self.unsent_count,
            "login_failed": self.login_failed_by,
            "resumed": self.resumed,
            "disconnected": self.disconnected,
            "new_sessions": self.new_sessions,
            "sessions_lost": self.sessions_lost,
            "cpu_s": time.process_time(),
            "rss_kib": resident_kib(),
            **gauges,
        }
        self._reset()
        return message


def _count(counts: dict[str, int], key: str) -> None:
    if key not in counts and len(counts) >= MAX_CONDITIONS:
        key = "other"
    counts[key] = counts.get(key, 0) + 1
