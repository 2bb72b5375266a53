"""xmppext load's latencies: HDR histograms recorded per process, merged exactly by the parent."""

from __future__ import annotations

import random
import time

import pytest

from xmpp_ext.load.histogram import Latencies
from xmpp_ext.load.results import RunAggregate


def exact_percentile(values: list[float], percentile: float) -> float:
    """The value at ``percentile`` of ``values`` by HdrHistogram's rule: the n-th smallest, n = p% of the count,
    rounded (at least 1)."""
    ordered = sorted(values)
    rank = max(1, int(percentile / 100.0 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def tick(worker_second: int, histogram: Latencies, phase: str = "run") -> dict:
    """A worker's per-second message, as xmpp_ext.load.tally writes it."""
    return {
        "type": "tick",
        "second": worker_second,
        "phase": phase,
        "ok": histogram.count,
        "exchange_histogram": histogram.encode(),
        "logins": 0,
        "login_histogram": None,
        "failed": {},
        "lost": 0,
        "late": 0,
        "unsent": 0,
        "login_failed": {},
        "resumed": 0,
        "disconnected": 0,
        "new_sessions": 0,
        "sessions_lost": 0,
        "cpu_s": 1.0,
        "rss_kib": 1000,
        "up": 2,
        "in_flight": 0,
        "waiting": 0,
        "behind_ms": 0.0,
    }


def test_merging_two_processes_is_exactly_one_histogram_of_every_value():
    # Two processes with different distributions and counts: a fast one (uniform 0.2-2 ms, 20,000 values)
    # and a slow one (exponential, mean 40 ms, 2,000 values).
    generator = random.Random(7)
    fast = [generator.uniform(0.0002, 0.002) for _ in range(20_000)]
    slow = [generator.expovariate(1 / 0.040) for _ in range(2_000)]
    first, second, everything = Latencies(), Latencies(), Latencies()
    for value in fast:
        first.record(value)
        everything.record(value)
    for value in slow:
        second.record(value)
        everything.record(value)

    merged = Latencies()
    for part in (first, second):  # as the parent does: from the encoded text each worker sends
        merged.add(Latencies.decode(part.encode()))

    assert merged.count == 22_000
    assert merged.summary() == everything.summary()
    for percentile in (50.0, 90.0, 99.0, 99.9):
        true_ms = exact_percentile(fast + slow, percentile) * 1000
        # Three significant digits: within 0.1% of the true value (plus the 1 µs unit).
        assert merged.value_at_ms(percentile) == pytest.approx(true_ms, rel=0.001, abs=0.001)


def test_averaging_each_process_percentile_would_be_wrong():
    first, second = Latencies(), Latencies()
    for _ in range(9_900):
        first.record(0.001)  # 1 ms
    for _ in range(100):
        second.record(0.500)  # 500 ms
    merged = Latencies()
    merged.add(first)
    merged.add(second)
    # 1% of all values are 500 ms: the true p99 is 1 ms, p99.9 is 500 ms; the average of the two p99s is 250 ms.
    assert merged.summary().p99_ms == pytest.approx(1.0, rel=0.001)
    assert merged.summary().p999_ms == pytest.approx(500.0, rel=0.001)
    average = (first.summary().p99_ms + second.summary().p99_ms) / 2
    assert average == pytest.approx(250.5, rel=0.01)


def test_the_parent_merges_workers_seconds_and_totals_exactly():
    seconds: list = []
    aggregate = RunAggregate({0: 1, 1: 1}, seconds.append)
    per_worker = {0: [0.001, 0.002, 0.003], 1: [0.100, 0.200]}
    everything = Latencies()
    for number, values in per_worker.items():
        histogram = Latencies()
        for value in values:
            histogram.record(value)
            everything.record(value)
        aggregate.receive(number, tick(5, histogram))
    assert [second.second for second in seconds] == [5]  # final once both workers reported second 5
    assert seconds[0].ok == 5
    assert seconds[0].max_ms == everything.summary().max_ms
    assert aggregate.exchanges.summary() == everything.summary()


def test_a_second_waits_for_every_running_worker_but_not_for_a_crashed_one():
    seconds: list = []
    aggregate = RunAggregate({0: 1, 1: 1}, seconds.append)
    histogram = Latencies()
    histogram.record(0.001)
    aggregate.receive(0, tick(3, histogram))
    assert seconds == []
    aggregate.worker_ended(1, -9, "")  # worker 1 died without saying done
    assert [second.second for second in seconds] == [3]
    assert [worker.number for worker in aggregate.crashed] == [1]


def test_recording_costs_little_and_is_bounded():
    histogram = Latencies()
    histogram.record(-1.0)  # clock trouble: clamped, never an error
    histogram.record(10_000.0)  # beyond an hour: clamped to the top
    assert histogram.count == 2
    started = time.perf_counter()
    encoded = histogram.encode()
    assert encoded is not None and time.perf_counter() - started < 5
    assert Latencies().encode() is None  # nothing to send for an empty second


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_mean_is_hdrh_own_mean(seed):
    """The summary's mean (computed from the buckets holding values) is the value hdrh's own iterator gives."""
    rng = random.Random(seed)
    latencies = Latencies()
    for _ in range(rng.randint(1, 3000)):
        latencies.record(rng.lognormvariate(-7, 2))
    assert latencies.mean_us() == pytest.approx(latencies.histogram.get_mean_value(), rel=1e-12)
    assert latencies.summary().mean_ms == pytest.approx(latencies.histogram.get_mean_value() / 1000.0, rel=1e-12)


def test_a_reset_histogram_is_empty_and_records_again():
    latencies = Latencies()
    latencies.record_many(0.5, 10)
    latencies.reset()
    assert latencies.count == 0 and latencies.encode() is None and latencies.mean_us() == 0.0
    latencies.record(0.002)
    assert latencies.count == 1 and latencies.summary().max_ms == pytest.approx(2.0, rel=1e-3)
