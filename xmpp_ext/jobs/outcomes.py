"""Outcomes of exchanges: what counts as ok, failed or lost, and how they add up.

Every request ends as exactly one Exchange, so ``sent == ok + failed + lost``
holds by construction. Latencies go into a fixed-size histogram: memory stays
flat however many requests a burst sends. How outcomes are shown is
``report.py``'s business.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"  # the reply we expected (a result, or an error the scenario expects)
    FAILED = "failed"  # an unexpected error reply (from the peer or a server)
    LOST = "lost"  # no reply within the timeout
    SENT = "sent"  # sent without awaiting a reply (--no-reply)


@dataclass(frozen=True)
class Exchange:
    name: str
    status: Status
    detail: str
    latency: float | None = None  # seconds, from sending to the reply
    # What the reply said, for programs (``detail`` is the same in prose); None where it does not apply.
    condition: str | None = None  # an error reply's condition, e.g. "bad-request"
    error_type: str | None = None  # an error reply's type: cancel, modify, auth, wait, continue
    replier: str | None = None  # the reply's "from" (``from`` in JSON)
    some_string: str | None = None  # a result's example_tag some_string
    ended_by_stop: bool = False  # in flight when the run was stopped (connection lost, interrupted)
    reply: str | None = None  # send --raw: the reply stanza as received (serialised, clipped; not yet printable)

    def as_dict(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "name": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "latency_ms": None if self.latency is None else round(self.latency * 1000, 3),
        }
        for key, value in (
            ("condition", self.condition),
            ("error_type", self.error_type),
            ("from", self.replier),
            ("some_string", self.some_string),
            ("reply", self.reply),
        ):
            if value is not None:
                fields[key] = value
        return fields


class LatencyHistogram:
    """Log-scale buckets (about 1% wide) from 1 µs to 1000 s."""

    _GROWTH = 1.01
    _LOW = 1e-6
    _BUCKETS = math.ceil(math.log(1e9) / math.log(_GROWTH)) + 1

    def __init__(self) -> None:
        self._counts = [0] * self._BUCKETS
        self.count = 0
        self.max = 0.0

    def record(self, seconds: float) -> None:
        index = 0 if seconds <= self._LOW else min(self._BUCKETS - 1, int(math.log(seconds / self._LOW, self._GROWTH)))
        self._counts[index] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def percentile(self, fraction: float) -> float | None:
        """The latency below which ``fraction`` of the samples lie (bucket upper bound)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index, bucket in enumerate(self._counts):
            seen += bucket
            if seen >= rank:
                return min(self.max, self._LOW * self._GROWTH ** (index + 1))
        return self.max


@dataclass
class Tally:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    lost: int = 0
    unsent: int = 0  # never sent: the run stopped early (connection lost)
    no_reply: int = 0  # of the ok, sent without awaiting a reply (--no-reply)
    # Across cut connections (stream management): how the run got its session back.
    reconnections: int = 0  # connections lost during the run
    resumed: int = 0  # of them, streams resumed
    resent: int = 0  # stanzas re-sent after resuming, or after a new session, as they were (not counted as sent)
    new_sessions: int = 0  # of them, new sessions (the stream was not resumed, or not answering once resumed)
    retried: int = 0  # requests sent again under a new id: their fate was unknown, or the peer was away
    duplicates: int = 0  # replies that arrived a second time: counted once
    late: int = 0  # replies to requests already counted lost
    resumption_refused: str | None = None  # the last cause the server gave for refusing to resume
    latencies: LatencyHistogram = field(default_factory=LatencyHistogram)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None  # set when the last exchange ended (logging out is not part of the run)

    def add(self, exchange: Exchange) -> None:
        self.sent += 1
        if exchange.status in (Status.OK, Status.SENT):
            self.ok += 1
            if exchange.status is Status.SENT:
                self.no_reply += 1
        elif exchange.status is Status.FAILED:
            self.failed += 1
        else:
            self.lost += 1
        if exchange.latency is not None:
            self.latencies.record(exchange.latency)

    @property
    def all_ok(self) -> bool:
        return self.failed == 0 and self.lost == 0

    def summary(self) -> dict[str, object]:
        elapsed = max((self.finished or time.monotonic()) - self.started, 1e-9)

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "lost": self.lost,
            "unsent": self.unsent,
            "no_reply": self.no_reply,
            "reconnections": self.reconnections,
            "resumed": self.resumed,
            "resent": self.resent,
            "new_sessions": self.new_sessions,
            "retried": self.retried,
            "duplicates": self.duplicates,
            "late": self.late,
            "resumption_refused": self.resumption_refused,
            "per_second": round(self.sent / elapsed, 1),
            "p50_ms": ms(self.latencies.percentile(0.50)),
            "p99_ms": ms(self.latencies.percentile(0.99)),
            "max_ms": ms(self.latencies.max if self.latencies.count else None),
            "seconds": round(elapsed, 3),
        }


def iq_reply_verdict(
    itype: str | None,
    carries_tag: bool,
    expect_error: str | None = None,
    condition: str | None = None,
    text: str | None = None,
    replier: str | None = None,
    some_string: str | None = None,
) -> tuple[Status, str]:
    """The one rule for a reply to an example_tag request: its status and a one-line detail.

    A result is ok when it carries the tag (a result without it means the peer
    did not speak the extension) and no error was expected; an error is ok only
    when it is the condition the step expects.
    """
    if itype == "result":
        if expect_error:
            return Status.FAILED, f"result, but {expect_error} was expected"
        if not carries_tag:
            return Status.FAILED, "result carries no example_tag"
        return Status.OK, "result" if some_string is None else f"result (some_string={some_string!r})"
    condition = condition or "undefined-condition"
    explanation = f": {text}" if text else ""
    if condition == expect_error:
        return Status.OK, f"error {condition} (expected){explanation}"
    source = f" from {replier}" if replier else ""
    # What the server answers for a peer that is not there (RFC 6121 §8.5.3.2.1): say what to check.
    hint = " (is the peer online?)" if condition in ("service-unavailable", "recipient-unavailable") else ""
    return Status.FAILED, f"error {condition}{source}{explanation}{hint}"
