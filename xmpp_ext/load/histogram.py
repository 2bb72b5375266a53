"""Latencies in an HDR histogram (HdrHistogram, Gil Tene's design; the ``hdrhistogram`` package).

Each worker process records into its own histograms, in microseconds, from
1 µs to an hour with three significant digits (a value is known to within
0.1%). Every second a worker sends the histogram of that second, encoded
(compressed, base64), and starts a fresh one; the parent adds the counts of
every process and every second. Adding counts is exact: a percentile of the
merged histogram is the percentile of all the values recorded, which an
average of each process's percentiles is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour: the longest --timeout
SIGNIFICANT_DIGITS = 3
#: The percentiles every summary reports (100: the maximum).
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 100.0)


@dataclass(frozen=True)
class LatencySummary:
    """What a histogram says, in milliseconds (None: nothing was recorded)."""

    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {name: _round(value) for name, value in self.__dict__.items()}


class Latencies:
    """One HDR histogram of latencies, recorded in seconds, kept in microseconds."""

    __slots__ = ("histogram",)

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self.histogram = histogram or HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record(self, seconds: float) -> None:
        micros = int(seconds * 1_000_000)
        self.histogram.record_value(min(max(micros, LOWEST_US), HIGHEST_US))

    def record_many(self, seconds: float, count: int) -> None:
        """``count`` values of ``seconds`` (e.g. every request of a stalled window)."""
        micros = int(seconds * 1_000_000)
        self.histogram.record_value(min(max(micros, LOWEST_US), HIGHEST_US), count)

    @property
    def count(self) -> int:
        return self.histogram.get_total_count()

    def add(self, other: Latencies) -> None:
        """Add ``other``'s counts to this one (exact: the merge of all values)."""
        self.histogram.add(other.histogram)

    def reset(self) -> None:
        # A fresh histogram (its counts zeroed by ctypes, in C): hdrh's reset() zeroes ~23,000 counters in a
        # Python loop, ~3 ms, which a worker would pay twice a second.
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def encode(self) -> str | None:
        """Compressed, base64 text to send to another process; None when empty (nothing to send)."""
        if not self.count:
            return None
        return self.histogram.encode().decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Latencies:
        return cls(HdrHistogram.decode(text.encode("ascii")))

    def value_at_ms(self, percentile: float) -> float | None:
        if not self.count:
            return None
        if percentile >= 100.0:
            return self.histogram.get_max_value() / 1000.0
        return self.histogram.get_value_at_percentile(percentile) / 1000.0

    def summary(self) -> LatencySummary:
        if not self.count:
            return LatencySummary(0, None, None, None, None, None, None)
        values = self.histogram.get_percentile_to_value_dict(list(PERCENTILES[:-1]))
        return LatencySummary(
            count=self.count,
            p50_ms=values[50.0] / 1000.0,
            p90_ms=values[90.0] / 1000.0,
            p99_ms=values[99.0] / 1000.0,
            p999_ms=values[99.9] / 1000.0,
            max_ms=self.histogram.get_max_value() / 1000.0,
            mean_ms=self.mean_us() / 1000.0,
        )

    def mean_us(self) -> float:
        """The mean hdrh's ``get_mean_value`` gives (each count at the middle of its bucket), in a fraction of its time.

        hdrh walks every bucket up to the maximum with its Python iterator (~50 ms for a second's latencies,
        which the parent pays every second); here the counts up to the maximum are copied out at once (C) and
        only the buckets holding values are looked at.
        """
        histogram = self.histogram
        if not histogram.total_count:
            return 0.0
        counts = histogram.counts[: histogram.get_counts_array_index(histogram.max_value) + 1]
        total = 0
        for index, count in enumerate(counts):
            if count:
                lowest = histogram.get_value_from_index(index)
                highest = histogram.get_highest_equivalent_value(lowest)
                total += count * (lowest + ((highest - lowest + 1) >> 1))
        return total / histogram.total_count

    def distribution(self, steps: int = 5) -> list[tuple[float, float]]:
        """(percentile, ms) points for a percentile-distribution chart, denser towards the tail."""
        if not self.count:
            return []
        points = []
        for item in self.histogram.get_percentile_iterator(steps):
            points.append((item.percentile_level_iterated_to, item.value_iterated_to / 1000.0))
        return points


def _round(value: float | int | None) -> float | int | None:
    return round(value, 3) if isinstance(value, float) else value
