"""The send job used as a library (no server: a closed local port)."""

from __future__ import annotations

import asyncio
import threading

from slixmpp import JID

import xmpp_ext.plugin  # noqa: F401  (registers the plugin by name)
from tests.sessions import SessionTest
from xmpp_ext.jobs.outcomes import Status, Tally
from xmpp_ext.jobs.send import Sender, SendOptions, Step, StopKind, send, tutorial_scenario
from xmpp_ext.jobs.send import burst as burst_module
from xmpp_ext.plugin import ExampleTag
from xmpp_ext.servers import free_port
from xmpp_ext.session import ConnectError, ConnectionSettings
from xmpp_ext.util.secret import Secret


def test_send_runs_outside_the_main_thread():
    # Signal handlers can only be installed from the main thread; elsewhere the job must still run.
    outcome: list[BaseException] = []

    def work() -> None:
        settings = ConnectionSettings(
            jid="me@localhost", password=Secret("not-used"), host="127.0.0.1", port=free_port(), connect_timeout=5
        )
        try:
            asyncio.run(send(settings, SendOptions(to="peer@localhost/r"), tutorial_scenario(), lambda _e: None))
        except BaseException as exc:  # whatever ended the job, inspected below
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    (error,) = outcome
    assert isinstance(error, ConnectError), repr(error)
    assert "connection failed" in str(error)


class TestStalledBurst(SessionTest):
    """A burst whose replies stop coming: a ping tells a silent peer from a stalled connection."""

    def setUp(self):
        self.start_session(jid="sender@localhost/s")
        self.xmpp.event("session_start")  # stanzas sent the ordinary way wait for the session
        self.send_queue = asyncio.ensure_future(self.xmpp.run_filters())  # SlixTest runs it only when asked
        self.ping_timeout = burst_module.STALL_PING_TIMEOUT
        self.exchanges = []
        tag = ExampleTag()
        tag.fill_interfaces(True, "x")
        self.step = Step("burst", "iq", tag)

    def tearDown(self):
        burst_module.STALL_PING_TIMEOUT = self.ping_timeout
        self.send_queue.cancel()
        self.stream_close()

    def sent(self):
        stanzas = []
        while (raw := self.xmpp.socket.next_sent(timeout=0.05)) is not None:
            stanzas.append(raw.decode())
        return "".join(stanzas)

    def test_no_reply_to_a_window_nor_to_the_ping_means_the_connection_is_lost(self):
        sender = Sender(self.session, JID("peer@localhost/r"), timeout=0.2, tally=Tally())
        burst_module.STALL_PING_TIMEOUT = 0.2  # restored in tearDown
        stop = self.run_coro(asyncio.wait_for(sender.burst(self.step, 50, 2, self.exchanges.append), 10))
        assert stop is not None and stop.kind is StopKind.CONNECTION_LOST
        assert "connection stalled" in stop.reason
        assert "urn:xmpp:ping" in self.sent()
        assert len(self.exchanges) + stop.unsent == 50  # every request accounted for, once
        assert stop.unsent > 40  # it did not go on sending into the dead stream

    def test_answered_ping_means_a_silent_peer_and_the_burst_goes_on(self):
        sender = Sender(self.session, JID("peer@localhost/r"), timeout=0.2, tally=Tally())
        task = asyncio.ensure_future(sender.burst(self.step, 4, 2, self.exchanges.append))

        ping_id = None
        for _ in range(100):  # the ping goes out once a window (2 requests of 0.2 s) has timed out
            self.run_coro(asyncio.sleep(0.05))
            pings = [part for part in self.sent().split("</iq>") if "urn:xmpp:ping" in part]
            if pings:
                ping_id = self.parse_xml(pings[0] + "</iq>").get("id")
                break
        assert ping_id is not None
        self.recv(f'<iq type="result" from="localhost" id="{ping_id}"/>')
        stop = self.run_coro(asyncio.wait_for(task, 10))
        assert stop is None
        assert [exchange.status for exchange in self.exchanges] == [Status.LOST] * 4


def test_fields_without_a_tag_source_change_the_bundled_tag():
    from xmpp_ext.jobs.send import custom_tag

    tag = custom_tag(boolean=False, inner=(("inside_tag", {"first_field": "9"}),))
    assert tag["some_string"] == "StringFromFile"  # still a valid request: the bundled tag's
    assert tag["boolean"] is False
    assert [inner["first_field"] for inner in tag] == ["3", "9"]
    assert tag.validation_problem() is None
