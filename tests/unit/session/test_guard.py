"""The depth guard (xmpp_ext.session.guard) offline, through slixmpp's SlixTest."""

from __future__ import annotations

import logging

import pytest
from slixmpp.test import SlixTest
from slixmpp.xmlstream import ET

import xmpp_ext.plugin  # noqa: F401  (registers the plugin by name)
from tests.sessions import SessionTest
from xmpp_ext.session import StreamManagement, slixmpp_private, streammgmt
from xmpp_ext.session.guard import DEFAULT_MAX_DEPTH, DepthGuard, depth_exceeds, install_depth_guard

NS = "https://example.net/our_extension"


def nested(levels: int) -> str:
    """``levels`` nested elements: with the stanza and example_tag around them, levels + 2 deep."""
    return "<n>" * levels + "</n>" * levels


def deep_request(levels: int, itype: str = "get", sid: str = "deep") -> str:
    return (
        f'<iq from="sender@localhost/res" to="tester@localhost/res" type="{itype}" id="{sid}">'
        f'<example_tag xmlns="{NS}" some_string="s">{nested(levels)}</example_tag></iq>'
    )


def refusal(sid: str = "deep", max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    return (
        f'<iq to="sender@localhost/res" type="error" id="{sid}">'
        '<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">'
        f"stanza nested deeper than {max_depth} elements; this entity accepts at most {max_depth}</text>"
        "</error></iq>"
    )


class GuardTestCase(SessionTest):
    """A client built the way the program builds it (the session layer), guard included."""

    plugins = ["xep_0030", "example_tag"]
    stream_management: StreamManagement | None = None

    def setUp(self):
        self.start_session(jid="tester@localhost/res", plugins=self.plugins, stream_management=self.stream_management)
        (self.guard,) = [f for f in slixmpp_private.incoming_filters(self.xmpp) if isinstance(f, DepthGuard)]
        self.requests = []
        self.messages = []
        self.xmpp.add_event_handler("example_tag_get_iq", self.requests.append)
        self.xmpp.add_event_handler("example_tag_message", self.messages.append)

    def tearDown(self):
        self.stream_close()


class TestDepthGuard(GuardTestCase):
    def test_deep_request_gets_exactly_one_error_and_no_handler_sees_it(self):
        with self.assertLogs("xmpp_ext.session.guard", "WARNING") as logs:
            self.recv(deep_request(1000))
        self.send(refusal(), use_values=False)
        self.send(None)
        assert self.requests == [] and self.guard.refused == 1
        assert logs.output == [
            "WARNING:xmpp_ext.session.guard:refused an iq get from sender@localhost/res nested deeper than 32 elements"
        ]

    def test_deep_set_is_refused_too(self):
        self.recv(deep_request(1000, itype="set", sid="s1"))
        self.send(refusal("s1"), use_values=False)
        self.send(None)

    def test_deep_message_and_result_are_dropped_with_a_log_line(self):
        with self.assertLogs("xmpp_ext.session.guard", "WARNING") as logs:
            self.recv(f'<message from="a@localhost/r"><example_tag xmlns="{NS}">{nested(1000)}</example_tag></message>')
            self.recv(deep_request(1000, itype="result", sid="r1"))
        self.send(None)
        assert self.messages == [] and self.guard.refused == 2
        assert logs.output == [
            "WARNING:xmpp_ext.session.guard:dropped a <message> from a@localhost/r nested deeper than 32 elements",
            "WARNING:xmpp_ext.session.guard:dropped a <iq> from sender@localhost/res nested deeper than 32 elements",
        ]

    def test_the_limit_itself_passes_one_more_is_refused(self):
        # iq (1) / example_tag (2) / 30 levels: 32 deep.
        self.recv(deep_request(DEFAULT_MAX_DEPTH - 2, sid="at-limit"))
        assert [iq["id"] for iq in self.requests] == ["at-limit"]
        self.recv(deep_request(DEFAULT_MAX_DEPTH - 1, sid="over"))
        self.send(refusal("over"), use_values=False)
        self.send(None)
        assert [iq["id"] for iq in self.requests] == ["at-limit"]

    def test_stream_survives_30000_levels_with_debug_logging(self):
        # Unguarded, the RECV debug line alone raises RecursionError near 970 levels. 30,000 levels (210 KB) is
        # about as deep as a server with the usual 256 KiB stanza limit relays; past 40,000 the inbound limits
        # end the stream before the stanza completes (session/inbound_limits.py).
        with self.assertLogs("slixmpp", logging.DEBUG):
            self.recv(f'<message from="a@localhost/r">{nested(30_000)}</message>')
            self.recv(f'<message from="a@localhost/r"><example_tag xmlns="{NS}" some_string="ok"/></message>')
        assert [msg["example_tag"]["some_string"] for msg in self.messages] == ["ok"]
        assert self.guard.refused == 1


class TestUnguarded(SlixTest):
    """What the guard protects from, so its tests show a real failure."""

    def setUp(self):
        self.stream_start(jid="tester@localhost/res", plugins=["xep_0030", "example_tag"])

    def tearDown(self):
        self.stream_close()

    def test_debug_line_of_a_deep_stanza_raises_recursion_error(self):
        with self.assertLogs("slixmpp", logging.DEBUG), pytest.raises(RecursionError):
            self.recv(f'<message from="a@localhost/r">{nested(1000)}</message>')


class TestStreamManagementInTheProgramsOrder(GuardTestCase):
    """The XEP-0198 counter runs before the guard, so a refused stanza is counted exactly once."""

    stream_management = StreamManagement()

    def test_a_refused_stanza_counts_once(self):
        assert streammgmt.counter_is_first(self.xmpp)
        self.xmpp.plugin["xep_0198"].enabled_in = True
        self.recv(f'<message from="a@localhost/r">{nested(100)}</message>')
        assert self.guard.refused == 1
        assert self.xmpp.plugin["xep_0198"].handled == 1
        self.recv('<message from="a@localhost/r"><body>shallow</body></message>')
        assert self.xmpp.plugin["xep_0198"].handled == 2

    def test_a_refused_request_counts_once_and_gets_one_error(self):
        self.xmpp.plugin["xep_0198"].enabled_in = True
        self.recv(deep_request(100))
        self.send(refusal(), use_values=False)
        assert self.xmpp.plugin["xep_0198"].handled == 1


class TestStreamManagementAmongThePlugins(GuardTestCase):
    """xep_0198 named among the plugins (as a pytest plugin user may) is still registered first."""

    plugins = ["xep_0030", "example_tag", "xep_0198"]

    def test_the_counter_is_first_and_counts_once(self):
        assert streammgmt.counter_is_first(self.xmpp)
        self.xmpp.plugin["xep_0198"].enabled_in = True
        self.recv(f'<message from="a@localhost/r">{nested(100)}</message>')
        assert self.xmpp.plugin["xep_0198"].handled == 1


def test_depth_is_measured_without_recursion():
    element = ET.fromstring(nested(100_000))
    assert depth_exceeds(element, 99_999)
    assert not depth_exceeds(element, 100_000)
    assert not depth_exceeds(ET.fromstring("<a><b/><c><d/></c></a>"), 3)
    assert depth_exceeds(ET.fromstring("<a><b/><c><d/></c></a>"), 2)


def test_a_limit_below_two_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        install_depth_guard(object(), max_depth=1)
