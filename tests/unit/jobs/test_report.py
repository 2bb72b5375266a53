"""Counting and summarising exchanges (xmpp_ext.jobs.report)."""

from __future__ import annotations

from xmpp_ext.jobs.outcomes import Exchange, Status, Tally


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


def summary_line(*exchanges: Exchange, unsent: int = 0) -> str:
    from xmpp_ext.jobs.report import Reporter

    tally = Tally(started=0.0)
    for exchange in exchanges:
        tally.add(exchange)
    tally.unsent = unsent
    tally.finished = 1.0
    lines: list[str] = []
    Reporter(lines.append).summary(tally.summary())
    return lines[0]


def test_a_message_sent_without_awaiting_a_reply_is_not_summarised_as_a_round_trip():
    assert summary_line(Exchange("message", Status.SENT, "sent, no reply awaited")) == (
        "sent 1 message, no reply awaited"
    )
    assert summary_line(*[Exchange("message", Status.SENT, "")] * 3) == "sent 3 messages, no reply awaited"


def test_text_summary_says_unsent_as_the_json_does():
    line = summary_line(Exchange("iq", Status.LOST, "connection lost"), unsent=6)
    assert line.startswith("sent 1: 0 ok, 0 failed, 1 lost, 6 unsent (")
