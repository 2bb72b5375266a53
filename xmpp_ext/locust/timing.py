"""Response times in Locust's statistics with microsecond resolution.

Locust keeps each request's response time (milliseconds, a float) exactly in
its min, max and total, but counts it for the percentiles in a dict keyed by
``locust.stats.bucket_response_time(t)``, which rounds below 100 ms to whole
milliseconds: an XMPP round trip of 0.4 ms would count as 0. That function
is documented as the one to replace for custom bucketing; ``fine_buckets``
keeps three significant digits below 100 ms (1 µs steps below 1 ms), so at
most ~2,700 distinct keys go from a worker to the master each report
(Locust's own: ~310). Master and workers both apply it (the locustfile is
imported by each).

Locust's CSV files write percentiles as whole milliseconds; ``summary_lines``
gives the same percentiles in microseconds, printed by the master at the end.
"""

from __future__ import annotations

from locust import stats

#: The percentiles of the end-of-run lines (as fractions).
PERCENTILES = (0.5, 0.9, 0.99, 0.999)
if not callable(getattr(stats, "bucket_response_time", None)):  # older than the pin in pyproject.toml
    raise ImportError("xmpp_ext.locust needs Locust 2.47 or later: pip install 'xmppext[locust]'")
_default_buckets = stats.bucket_response_time


def fine_buckets(response_time: float) -> float:
    """Three significant digits below 100 ms (0.4123 -> 0.412, 4.123 -> 4.12, 41.23 -> 41.2); Locust's above."""
    if response_time < 1:
        return round(response_time, 3)
    if response_time < 10:
        return round(response_time, 2)
    if response_time < 100:
        return round(response_time, 1)
    return _default_buckets(response_time)


def use_fine_buckets() -> None:
    """Make Locust's statistics in this process keep sub-millisecond response times."""
    stats.bucket_response_time = fine_buckets


def microseconds(milliseconds: float | None) -> str:
    if milliseconds is None:
        return "-"
    return f"{milliseconds * 1000:,.0f} µs" if milliseconds < 10 else f"{milliseconds:,.1f} ms"


def summary_lines(request_stats: stats.RequestStats) -> list[str]:
    """One line per request name: count, failures, and the percentiles at microsecond resolution."""
    lines = []
    for entry in sorted(request_stats.entries.values(), key=lambda entry: (entry.method, entry.name)):
        if not entry.num_requests:
            continue
        percentiles = ", ".join(
            f"p{percentile * 100:g} {microseconds(entry.get_response_time_percentile(percentile))}"
            for percentile in PERCENTILES
        )
        lines.append(
            f"{entry.method} {entry.name}: {entry.num_requests:,} requests, {entry.num_failures:,} failed; "
            f"{percentiles}, max {microseconds(entry.max_response_time)}"
        )
    return lines
