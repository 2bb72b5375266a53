"""Counting and summarising exchanges (xmpp_ext.report)."""

from __future__ import annotations

from xmpp_ext.outcomes import Exchange, Status, Tally


def test_counts_add_up_and_rate_covers_the_exchanges_only():
    tally = Tally(started=100.0)
    for status in (Status.OK, Status.SENT, Status.FAILED, Status.LOST):
        tally.add(Exchange("x", status, "", latency=0.002 if status is not Status.LOST else None))
    tally.finished = 102.0  # logging out afterwards must not lower the rate
    summary = tally.summary()
    assert (summary["sent"], summary["ok"], summary["failed"], summary["lost"]) == (4, 2, 1, 1)
    assert summary["sent"] == summary["ok"] + summary["failed"] + summary["lost"]
    assert summary["seconds"] == 2.0
    assert summary["per_second"] == 2.0
    assert 1.9 <= summary["p50_ms"] <= 2.1
