"""``--fail-if`` thresholds (k6's idea): a run crossing any of them exits 1, each crossing named in one line.

A threshold is ``METRIC OP VALUE`` with OP one of ``> >= < <=``:

* exchange latency ``p50 p90 p99 p99.9 max mean`` and login time ``login_p50``
  ... ``login_max``, in ``us``, ``ms`` (the default) or ``s``: ``p99>20ms``;
* counts ``errors failed lost late unsent login_failed disconnected``, as a
  number or a percentage (of the exchanges, or of the sessions planned for
  ``login_failed``): ``lost>0``, ``failed>0.1%``;
* rates ``rate`` (exchanges/s) and ``login_rate`` (logins/s), and
  ``sessions`` (sessions logged in): ``rate<1000``, ``sessions<10000``.

Without any ``--fail-if``, a run fails on any error (``errors>0``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from xmpp_ext.load.results import Totals

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_LATENCIES = {"p50": "p50_ms", "p90": "p90_ms", "p99": "p99_ms", "p99.9": "p999_ms", "max": "max_ms", "mean": "mean_ms"}
_COUNTS = ("errors", "failed", "lost", "late", "unsent", "login_failed", "disconnected")
_RATES = ("rate", "login_rate", "sessions")
_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
_PATTERN = re.compile(r"\s*([a-z_]+(?:\d+(?:\.\d+)?)?)\s*(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(us|µs|ms|s|%)?\s*")

METRICS = (*_LATENCIES, *(f"login_{name}" for name in _LATENCIES), *_COUNTS, *_RATES)
DEFAULT = "errors>0"


@dataclass(frozen=True)
class Threshold:
    text: str  # as the user wrote it, spaces removed
    metric: str
    op: str
    value: float  # milliseconds for latencies; a fraction (0..1) when percent
    percent: bool = False

    def measure(self, totals: Totals) -> float | None:
        """The run's value of this metric, in the threshold's terms (None: not measured in this run)."""
        metric = self.metric
        if metric.startswith("login_") and metric[len("login_") :] in _LATENCIES:
            return getattr(totals.logins, _LATENCIES[metric[len("login_") :]])
        if metric in _LATENCIES:
            return getattr(totals.exchanges, _LATENCIES[metric])
        if metric == "rate":
            return totals.exchanges_per_second
        if metric == "login_rate":
            return totals.logins_per_second
        if metric == "sessions":
            return totals.sessions_up
        count = totals.errors if metric == "errors" else getattr(totals, metric)
        if not self.percent:
            return count
        whole = totals.sessions_planned if metric == "login_failed" else totals.ok + totals.failed + totals.lost
        return count / whole if whole else 0.0

    def crossed(self, totals: Totals) -> bool:
        value = self.measure(totals)
        return value is not None and _OPERATORS[self.op](value, self.value)

    def describe(self, totals: Totals) -> str:
        """``threshold crossed: p99>20ms (p99 was 31.2 ms)``."""
        return f"threshold crossed: {self.text} ({self.metric} was {self.shown(self.measure(totals))})"

    def shown(self, value: float | None) -> str:
        if value is None:
            return "not measured"
        if self.metric in _LATENCIES or self.metric.startswith("login_p") or self.metric == "login_max":
            return f"{value:,.3f} ms"
        if self.percent:
            return f"{value * 100:.3g}%"
        if self.metric in ("rate", "login_rate"):
            return f"{value:,.1f}/s"
        return f"{value:,.0f}"


def parse(text: str) -> Threshold:
    """A threshold from its text; ValueError with one line saying what is wrong."""
    match = _PATTERN.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not METRIC OP VALUE (e.g. 'p99>20ms', 'lost>0', 'failed>0.1%')")
    metric, op, number, unit = match.groups()
    if metric not in METRICS:
        raise ValueError(f"{text!r}: unknown metric {metric!r}; known: {', '.join(METRICS)}")
    value = float(number)
    latency = metric in _LATENCIES or metric.removeprefix("login_") in _LATENCIES
    if latency:
        if unit == "%":
            raise ValueError(f"{text!r}: a latency takes us, ms or s, not %")
        value *= _UNITS[unit or "ms"]
    elif unit == "%":
        if metric not in _COUNTS:
            raise ValueError(f"{text!r}: only counts ({', '.join(_COUNTS)}) take a percentage")
        value /= 100.0
    elif unit is not None:
        raise ValueError(f"{text!r}: {metric} is not a time; write it without {unit}")
    return Threshold("".join(text.split()), metric, op, value, percent=unit == "%")


def crossings(thresholds: list[Threshold], totals: Totals) -> list[str]:
    """One line per threshold ``totals`` crosses, in the order they were given."""
    return [threshold.describe(totals) for threshold in thresholds if threshold.crossed(totals)]
