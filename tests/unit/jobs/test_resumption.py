"""The burst pipeline across a cut connection, offline: pause, refused resumption, duplicates and late replies."""

from __future__ import annotations

import asyncio

from slixmpp.test import SlixTest

import xmpp_ext.plugin  # noqa: F401
from xmpp_ext.jobs.outcomes import Exchange, Status, Tally
from xmpp_ext.jobs.report import Reporter
from xmpp_ext.jobs.send.pipeline import IqPipeline
from xmpp_ext.plugin import ExampleTag
from xmpp_ext.session import Refusal, SessionWriter

PEER = "responder@localhost/xmppext"
TAG = '<example_tag xmlns="https://example.net/our_extension" some_string="x" />'


class TestPipelineAcrossCuts(SlixTest):
    def setUp(self):
        self.stream_start(jid="sender@localhost/s", plugins=["xep_0030", "example_tag"])
        self.exchanges = []

    def tearDown(self):
        self.stream_close()

    def start(self, count, window, timeout=5.0):
        tag = ExampleTag()
        tag.setup_from_string(TAG)
        self.first_ended = asyncio.Event()

        def report(exchange):
            self.exchanges.append(exchange)
            self.first_ended.set()

        self.writer = SessionWriter(self.xmpp)
        self.pipeline = IqPipeline(self.xmpp, PEER, tag.xml, "get", timeout, "burst", report, writer=self.writer)
        task = asyncio.ensure_future(self.pipeline.run(count, window))
        self.wait_()
        return task

    def sent_ids(self):
        ids = []
        while (raw := self.xmpp.socket.next_sent(timeout=0.05)) is not None:
            ids.extend(self.parse_xml(part + "</iq>").get("id") for part in raw.decode().split("</iq>")[:-1])
        return ids

    def reply(self, iq_id):
        self.recv(f'<iq type="result" from="{PEER}" id="{iq_id}">{TAG}</iq>')
        self.wait_()

    def written(self, iq_id):
        """The request as the pipeline wrote it (what stream management keeps in its queue)."""
        return f"{self.pipeline._prefix}{iq_id}{self.pipeline._suffix}"

    def test_a_second_copy_of_a_reply_is_counted_as_a_duplicate_not_an_exchange(self):
        task = self.start(count=2, window=2)
        first, second = self.sent_ids()
        self.reply(first)
        self.reply(first)  # re-delivered after a resumption
        self.reply(second)
        assert task.done()
        assert [exchange.status for exchange in self.exchanges] == [Status.OK, Status.OK]
        assert (self.pipeline.duplicates, self.pipeline.late) == (1, 0)

    def test_a_reply_after_the_time_out_is_late_not_ok(self):
        task = self.start(count=2, window=1, timeout=0.3)
        (first,) = self.sent_ids()
        self.run_coro(asyncio.wait_for(self.first_ended.wait(), 2))  # the first has timed out
        self.wait_()
        (second,) = self.sent_ids()
        self.reply(first)
        self.reply(second)
        assert task.done()
        assert [exchange.status for exchange in self.exchanges] == [Status.LOST, Status.OK]
        assert (self.pipeline.duplicates, self.pipeline.late) == (0, 1)

    def test_replies_to_ids_we_never_used_are_left_alone(self):
        task = self.start(count=1, window=1)
        (iq_id,) = self.sent_ids()
        self.reply(f"{self.pipeline._id_prefix}99")  # beyond the last number sent
        assert (self.pipeline.duplicates, self.pipeline.late) == (0, 0)
        self.reply(iq_id)
        assert task.done()

    def test_paused_sends_nothing_new_and_unpause_fills_the_window(self):
        task = self.start(count=4, window=2)
        first, second = self.sent_ids()
        self.pipeline.pause()
        self.reply(first)
        assert self.sent_ids() == []  # cut off: no new request
        self.pipeline.unpause()
        self.wait_()
        (third,) = self.sent_ids()
        self.reply(second)
        self.reply(third)
        (fourth,) = self.sent_ids()
        self.reply(fourth)
        assert task.done() and len(self.exchanges) == 4

    def test_refused_resumption_loses_what_reached_the_server_and_keeps_the_rest_in_flight(self):
        task = self.start(count=3, window=3)
        ids = self.sent_ids()
        self.pipeline.pause()
        # Stream management's queue when <failed h="11"/> came: seq 11 reached the server, 12 and 13 did not.
        unacked = [(seq, self.written(iq_id)) for seq, iq_id in zip((11, 12, 13), ids, strict=True)]
        refusal = Refusal("item-not-found", 11, unacked)
        assert refusal.never_arrived() == [self.written(ids[1]), self.written(ids[2])]
        lost, resent = self.pipeline.after_refusal(refusal, "resumption refused (item-not-found): fate unknown")
        assert (lost, resent) == (1, 2)
        assert [(e.status, e.detail) for e in self.exchanges] == [
            (Status.LOST, "resumption refused (item-not-found): fate unknown")
        ]
        self.pipeline.unpause()
        self.wait_()
        assert self.sent_ids() == []  # re-sending them is the session's (tests/unit/session), not the pipeline's
        self.reply(ids[1])
        self.reply(ids[2])
        assert task.done()
        assert [e.status for e in self.exchanges] == [Status.LOST, Status.OK, Status.OK]

    def test_refused_without_h_loses_every_request_in_flight(self):
        task = self.start(count=2, window=2)
        ids = self.sent_ids()
        self.pipeline.pause()
        unacked = [(5, self.written(ids[0])), (6, self.written(ids[1]))]
        assert self.pipeline.after_refusal(Refusal("item-not-found", None, unacked), "refused") == (2, 0)
        self.pipeline.unpause()
        self.wait_()
        assert task.done() and [e.status for e in self.exchanges] == [Status.LOST, Status.LOST]

    def test_seq_comparison_wraps_around_2_to_the_32(self):
        task = self.start(count=2, window=2)
        ids = self.sent_ids()
        self.pipeline.pause()
        unacked = [(2**32 - 1, self.written(ids[0])), (0, self.written(ids[1]))]
        assert self.pipeline.after_refusal(Refusal("refused", 2**32 - 1, unacked), "refused") == (1, 1)
        self.pipeline.unpause()
        self.reply(ids[1])
        assert task.done()


def test_reporter_says_when_a_run_resumed_in_text_and_json():
    lines: list[str] = []
    Reporter(lines.append).event({"event": "resumed", "after_s": 0.4, "resent": 37})
    Reporter(lines.append, quiet=True).event({"event": "resumption_refused", "cause": "item-not-found", "lost": 3})
    Reporter(lines.append, as_json=True).event({"event": "resumed", "after_s": 0.4, "resent": 37})
    assert lines == [
        "resumed after 0.4 s, 37 re-sent",
        "resumption refused (item-not-found): 3 in flight counted as lost",
        '{"event": "resumed", "after_s": 0.4, "resent": 37}',
    ]


def test_summary_counts_reconnections_and_duplicates():
    tally = Tally(started=0.0)
    tally.add(Exchange("iq", Status.OK, "result", 0.001))
    tally.finished = 1.0
    tally.reconnections, tally.resumed, tally.resent, tally.duplicates = 2, 2, 37, 1
    summary = tally.summary()
    assert (summary["reconnections"], summary["resumed"], summary["resent"], summary["duplicates"]) == (2, 2, 37, 1)
    assert summary["late"] == 0 and summary["resumption_refused"] is None
    lines: list[str] = []
    Reporter(lines.append).summary(summary)
    assert lines[0].startswith("sent 1: 1 ok, 0 failed, 0 lost, 1 duplicates (")
    assert lines[1] == "2 reconnection(s): 2 resumed, 37 re-sent"
