"""The example_tag plugin offline, through slixmpp's own SlixTest harness.

The expected XML is the tutorial's, written out stanza by stanza.
"""

import asyncio
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError
from slixmpp.test import SlixTest
from slixmpp.xmlstream import ET

import xmpp_ext.plugin  # noqa: F401  (registers the plugin by name)
from xmpp_ext.plugin import NAMESPACE, ExampleTag, ExampleTagError, InsideTag

REPO = Path(__file__).resolve().parents[3]
TUTORIAL_STRING = (
    '<example_tag xmlns="https://example.net/our_extension" some_string="Another_string">'
    'Info_inside_tag<inside_tag first_field="1" secound_field="2" /></example_tag>'
)


class PluginTestCase(SlixTest):
    def setUp(self):
        self.stream_start(jid="sender@localhost/res", plugins=["xep_0030", "example_tag"])
        self.events = []
        for event in (
            "example_tag_get_iq",
            "example_tag_set_iq",
            "example_tag_result_iq",
            "example_tag_error_iq",
            "example_tag_message",
            "example_tag_message_error",
            "example_tag_invalid_iq",
        ):
            self.xmpp.add_event_handler(event, lambda stanza, event=event: self.events.append((event, stanza)))

    def tearDown(self):
        self.stream_close()


class TestTutorialStanzas(PluginTestCase):
    """Every stanza the tutorial's sender builds, built through the plugin."""

    def test_basic_iq(self):
        iq = self.xmpp.make_iq(ito="responder@localhost/res", itype="get", id="0")
        iq["example_tag"].set_boolean(True)
        iq["example_tag"].set_some_string("Another_string")
        iq["example_tag"].set_text("Info_inside_tag")
        iq.send()
        self.send(
            '<iq to="responder@localhost/res" type="get" id="0">'
            '<example_tag xmlns="https://example.net/our_extension" some_string="Another_string" boolean="True">'
            "Info_inside_tag</example_tag></iq>"
        )

    def test_iq_with_inner_tag(self):
        iq = self.xmpp.make_iq(ito="responder@localhost/res", itype="get", id="1")
        iq["example_tag"].set_some_string("Another_string")
        iq["example_tag"].set_text("Info_inside_tag")
        iq["example_tag"].add_inside_tag(tag="inside_tag", attributes={"first_field": "1", "secound_field": "2"})
        iq.send()
        self.send(f'<iq to="responder@localhost/res" type="get" id="1">{TUTORIAL_STRING}</iq>')

    def test_message(self):
        msg = self.xmpp.make_message(mto="responder@localhost")
        msg["example_tag"].set_boolean(True)
        msg["example_tag"].set_some_string("Message string")
        msg["example_tag"].set_text("Info_inside_tag_message")
        msg.send()
        self.send(
            '<message to="responder@localhost">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Message string">'
            "Info_inside_tag_message</example_tag></message>"
        )

    def test_from_file(self):
        iq = self.xmpp.make_iq(ito="responder@localhost/res", itype="get", id="2")
        iq["example_tag"].setup_from_file(REPO / "test_example_tag.xml")
        iq.send()
        self.send(
            '<iq to="responder@localhost/res" type="get" id="2">'
            '<example_tag xmlns="https://example.net/our_extension" some_string="StringFromFile">'
            'Info_inside_tag<inside_tag first_field="3" secound_field="4" /></example_tag></iq>'
        )

    def test_from_element(self):
        element = ET.fromstring(TUTORIAL_STRING)
        iq = self.xmpp.make_iq(ito="responder@localhost/res", itype="get", id="3")
        iq["example_tag"].setup_from_lxml(element)
        iq.send()
        self.send(f'<iq to="responder@localhost/res" type="get" id="3">{TUTORIAL_STRING}</iq>')
        # The caller's element is copied, not moved.
        assert len(element) == 1

    def test_from_string(self):
        iq = self.xmpp.make_iq(ito="responder@localhost/res", itype="get", id="5")
        iq["example_tag"].setup_from_string(TUTORIAL_STRING)
        iq.send()
        self.send(f'<iq to="responder@localhost/res" type="get" id="5">{TUTORIAL_STRING}</iq>')

    def test_from_dict(self):
        iq = self.xmpp.make_iq(ito="responder@localhost/res", itype="set", id="6")
        iq["example_tag"].setup_from_dict({"boolean": True, "some_string": "Dict_string", "text": "From_dict"})
        iq.send()
        self.send(
            '<iq to="responder@localhost/res" type="set" id="6">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Dict_string">'
            "From_dict</example_tag></iq>"
        )

    def test_reply_filled_like_the_tutorial_responder(self):
        self.recv(
            f'<iq from="sender@localhost/res" to="responder@localhost/res" type="get" id="7">{TUTORIAL_STRING}</iq>'
        )
        ((_name, request),) = self.events
        reply = request.reply()
        reply["example_tag"].fill_interfaces(True, "Reply_string")
        reply.send()
        self.send(
            '<iq to="sender@localhost/res" type="result" id="7">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Reply_string"/>'
            "</iq>"
        )


class TestValidation(PluginTestCase):
    def test_missing_some_string_gets_exactly_one_bad_request(self):
        self.recv(
            '<iq from="sender@localhost/res" to="tester@localhost/res" type="get" id="4">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True"/></iq>'
        )
        self.send(
            '<iq to="sender@localhost/res" type="error" id="4">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True"/>'
            '<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">example_tag needs a some_string attribute</text>'
            "</error></iq>",
            use_values=False,
        )
        self.send(None)  # nothing else was sent
        # Only reported as refused: no request handler saw it.
        assert [(event, stanza["id"]) for event, stanza in self.events] == [("example_tag_invalid_iq", "4")]

    def test_invalid_boolean_on_set_is_refused(self):
        self.recv(
            '<iq from="sender@localhost/res" type="set" id="9">'
            '<example_tag xmlns="https://example.net/our_extension" some_string="x" boolean="maybe"/></iq>'
        )
        self.send(
            '<iq to="sender@localhost/res" type="error" id="9">'
            '<example_tag xmlns="https://example.net/our_extension" some_string="x" boolean="maybe"/>'
            '<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            "<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\">boolean must be true or false, not 'maybe'</text>"
            "</error></iq>",
            use_values=False,
        )
        self.send(None)
        assert [(event, stanza["id"]) for event, stanza in self.events] == [("example_tag_invalid_iq", "9")]

    def test_request_without_exactly_one_payload_is_refused(self):
        # RFC 6120 §8.2.3: an iq get/set carries exactly one payload element.
        cases = [
            (f"{TUTORIAL_STRING}{TUTORIAL_STRING}", "2 (example_tag, example_tag)"),
            (f'{TUTORIAL_STRING}<query xmlns="jabber:iq:version"/>', "2 (example_tag, query)"),
            (f'<query xmlns="jabber:iq:version"/>{TUTORIAL_STRING}', "2 (query, example_tag)"),
            (TUTORIAL_STRING * 5, "5 (example_tag, example_tag, example_tag, ...)"),
        ]
        for number, (payload, children) in enumerate(cases):
            itype = ("get", "set")[number % 2]
            self.recv(f'<iq from="sender@localhost/res" type="{itype}" id="m{number}">{payload}</iq>')
            self.send(
                f'<iq to="sender@localhost/res" type="error" id="m{number}">'
                '<example_tag xmlns="https://example.net/our_extension" some_string="Another_string"/>'
                '<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
                '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">'
                f"an iq get/set carries exactly one payload element (RFC 6120 §8.2.3), not {children}</text>"
                "</error></iq>",
                use_values=False,
            )
            self.send(None)
        assert [(event, stanza["id"]) for event, stanza in self.events] == [
            ("example_tag_invalid_iq", f"m{number}") for number in range(len(cases))
        ]


class TestHostileRequests(PluginTestCase):
    """Requests built to hurt: the refusal must neither copy them nor grow with them."""

    def test_deeply_nested_request_gets_one_error_and_the_stream_lives_on(self):
        # iq.reply() deep-copies the request: at ~500 levels that raised RecursionError in data_received.
        nested = "<n>" * 600 + "</n>" * 600
        self.recv(
            '<iq from="sender@localhost/res" type="get" id="deep">'
            f'<example_tag xmlns="https://example.net/our_extension" boolean="True">{nested}</example_tag></iq>'
        )
        self.send(
            '<iq to="sender@localhost/res" type="error" id="deep">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True"/>'
            '<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">example_tag needs a some_string attribute</text>'
            "</error></iq>",
            use_values=False,
        )
        self.send(None)
        self.recv(f'<message from="a@localhost/r">{TUTORIAL_STRING}</message>')
        assert [event for event, _ in self.events] == ["example_tag_invalid_iq", "example_tag_message"]

    def test_large_attributes_are_not_echoed_and_long_text_is_cut(self):
        boolean = "x" * 5000  # refused, and quoted in the error text
        self.recv(
            '<iq from="sender@localhost/res" type="set" id="big">'
            f'<example_tag xmlns="https://example.net/our_extension" some_string="s" boolean="{boolean}"/></iq>'
        )
        text = f"boolean must be true or false, not '{boolean}'"[:299] + "…"
        self.send(
            '<iq to="sender@localhost/res" type="error" id="big">'
            '<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            f'<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">{text}</text>'
            "</error></iq>",
            use_values=False,
        )
        self.send(None)


class TestNoListener(SlixTest):
    """A client that loads the plugin but never listens for requests."""

    def setUp(self):
        self.stream_start(plugins=["xep_0030", "example_tag"])

    def tearDown(self):
        self.stream_close()

    def test_request_gets_feature_not_implemented(self):
        self.recv(f'<iq from="sender@localhost/res" type="get" id="10">{TUTORIAL_STRING}</iq>')
        # The refused tag is echoed with its attributes, without its content.
        self.send(
            '<iq to="sender@localhost/res" type="error" id="10">'
            '<example_tag xmlns="https://example.net/our_extension" some_string="Another_string"/>'
            '<error type="cancel"><feature-not-implemented xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">this entity does not answer example_tag requests</text>'
            "</error></iq>",
            use_values=False,
        )
        self.send(None)


class TestEvents(PluginTestCase):
    def _recv_and_expect(self, xml, event):
        self.recv(xml)
        assert [name for name, _ in self.events] == [event]
        assert isinstance(self.events[0][1]["example_tag"], ExampleTag)

    def test_get(self):
        self._recv_and_expect(
            f'<iq from="a@localhost/r" type="get" id="g">{TUTORIAL_STRING}</iq>', "example_tag_get_iq"
        )

    def test_set(self):
        self._recv_and_expect(
            f'<iq from="a@localhost/r" type="set" id="s">{TUTORIAL_STRING}</iq>', "example_tag_set_iq"
        )

    def test_result(self):
        self._recv_and_expect(
            f'<iq from="a@localhost/r" type="result" id="r">{TUTORIAL_STRING}</iq>', "example_tag_result_iq"
        )

    def test_error(self):
        self._recv_and_expect(
            f'<iq from="a@localhost/r" type="error" id="e">{TUTORIAL_STRING}'
            '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
            "example_tag_error_iq",
        )

    def test_message(self):
        self._recv_and_expect(f'<message from="a@localhost/r">{TUTORIAL_STRING}</message>', "example_tag_message")

    def test_bounced_message(self):
        self._recv_and_expect(
            f'<message from="a@localhost/r" type="error">{TUTORIAL_STRING}'
            '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>',
            "example_tag_message_error",
        )

    def test_stanzas_without_the_tag_raise_nothing(self):
        self.recv('<message from="a@localhost/r"><body>hello</body></message>')
        self.recv('<iq from="a@localhost/r" type="result" id="x"/>')
        assert self.events == []

    def test_received_inner_tags_are_stanza_objects(self):
        self.recv(f'<message from="a@localhost/r">{TUTORIAL_STRING}</message>')
        tag = self.events[0][1]["example_tag"]
        inner = list(tag)
        assert len(inner) == 1 and isinstance(inner[0], InsideTag)
        assert inner[0]["first_field"] == "1" and inner[0]["secound_field"] == "2"
        assert tag["some_string"] == "Another_string" and tag["text"] == "Info_inside_tag"
        assert tag["boolean"] is None


class TestDiscoFeature(PluginTestCase):
    def test_feature_advertised_then_removed(self):
        disco = self.xmpp.plugin["xep_0030"]
        # stream_start marks the session bound, so session_bind already ran.
        self.run_coro(self._assert_feature(disco, present=True))
        self.xmpp.plugin.disable("example_tag")
        self.run_coro(self._assert_feature(disco, present=False))
        # remove_handler() says whether it found one: plugin_end has removed every handler already.
        for name in ("ExampleTag get", "ExampleTag set", "ExampleTag result", "ExampleTag error", "ExampleTag message"):
            assert self.xmpp.remove_handler(name) is False

    async def _assert_feature(self, disco, present):
        info = await disco.get_info(jid=self.xmpp.boundjid.full, local=True)
        features = info["features"] if not hasattr(info, "get_features") else info.get_features()
        assert (NAMESPACE in features) is present


class TestApi(PluginTestCase):
    def test_request_future_resolves_with_the_result(self):
        future = self.xmpp.plugin["example_tag"].send_request("r@localhost/x", {"some_string": "a"}, timeout=5)
        self.send(
            '<iq to="r@localhost/x" type="get" id="1">'
            '<example_tag xmlns="https://example.net/our_extension" some_string="a"/></iq>'
        )
        self.recv('<iq from="r@localhost/x" type="result" id="1"/>')
        self.wait_()
        assert future.done() and future.result()["type"] == "result"

    def test_request_raises_iq_error(self):
        coroutine = self.xmpp.plugin["example_tag"].request("r@localhost/x", TUTORIAL_STRING, itype="set", timeout=5)
        task = asyncio.ensure_future(coroutine)
        self.wait_()
        self.recv(
            '<iq from="r@localhost/x" type="error" id="1"><error type="cancel">'
            '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
        )
        self.wait_()
        with pytest.raises(IqError) as info:
            task.result()
        assert info.value.condition == "service-unavailable"


class TestBadInput:
    @pytest.mark.parametrize(
        ("xml", "fragment"),
        [
            ("<example_tag xmlns='https://example.net/our_extension'>", "not well-formed"),
            ("<other xmlns='https://example.net/our_extension'/>", "root element must be"),
            ("<example_tag xmlns='urn:wrong'/>", "root element must be"),
            ("<example_tag/>", "without namespace"),
            (
                "<!DOCTYPE example_tag [<!ENTITY x 'y'>]><example_tag xmlns='https://example.net/our_extension'/>",
                "not allowed in XMPP",
            ),
            ("<!DOCTYPE example_tag><example_tag xmlns='https://example.net/our_extension'/>", "DTDs are not allowed"),
            ("<example_tag xmlns='https://example.net/our_extension' boolean='perhaps'/>", "boolean must be"),
        ],
    )
    def test_setup_from_string_refuses_and_keeps_the_tag(self, xml, fragment):
        tag = ExampleTag()
        tag.fill_interfaces(True, "kept", "kept text")
        before = str(tag)
        with pytest.raises(ExampleTagError, match=fragment):
            tag.setup_from_string(xml)
        assert str(tag) == before

    def test_missing_file(self, tmp_path):
        with pytest.raises(ExampleTagError, match="cannot read file"):
            ExampleTag().setup_from_file(tmp_path / "absent.xml")

    def test_file_too_large(self, tmp_path):
        path = tmp_path / "big.xml"
        path.write_text(f"<example_tag xmlns='{NAMESPACE}' some_string='x'>{'a' * 70000}</example_tag>")
        with pytest.raises(ExampleTagError, match="larger than"):
            ExampleTag().setup_from_file(path)

    def test_string_too_large(self):
        with pytest.raises(ExampleTagError, match="more than 65536"):
            ExampleTag().setup_from_string(
                f"<example_tag xmlns='{NAMESPACE}' some_string='x'>{'a' * 70000}</example_tag>"
            )

    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            (lambda tag: tag.set_text("bell\x07"), "text contains U\\+0007"),
            (lambda tag: tag.set_some_string("\ud800"), "some_string contains U\\+D800"),
            (lambda tag: tag.add_inside_tag("inside_tag", {"bad key": "1"}), "'bad key' is not an XML name"),
            (lambda tag: tag.add_inside_tag("inside_tag", {"first_field": "\x1b"}), "first_field contains U\\+001B"),
            (lambda tag: tag.add_inside_tag("no spaces", {}), "'no spaces' is not an XML name"),
            (lambda tag: tag.add_inside_tag("other", {}, text="\uffff"), "text contains U\\+FFFF"),
            (lambda tag: tag.setup_from_dict({"some_string": "ok", "text": "\x00"}), "text contains U\\+0000"),
            (lambda tag: tag.setup_from_lxml(_element_with_text("\x02")), "text contains U\\+0002"),
        ],
    )
    def test_what_xml_cannot_carry_is_refused_and_the_tag_kept(self, change, fragment):
        # Sent as is, such a stanza is not well-formed and the server closes the whole stream.
        tag = ExampleTag()
        tag.fill_interfaces(True, "kept", "kept text")
        before = str(tag)
        with pytest.raises(ExampleTagError, match=fragment):
            change(tag)
        assert str(tag) == before

    def test_what_xml_can_carry_is_kept_as_is(self):
        tag = ExampleTag()
        tag.fill_interfaces(False, "emoji \U0001f600, <&>", "line\nbreak\ttab")
        tag.add_inside_tag("inside_tag", {"first_field": "é"})
        parsed = ExampleTag()
        parsed.setup_from_string(str(tag))
        assert parsed["some_string"] == "emoji \U0001f600, <&>"
        assert parsed["text"] == "line\nbreak\ttab"
        assert next(iter(parsed))["first_field"] == "é"

    def test_unknown_dict_key(self):
        with pytest.raises(ExampleTagError, match="unknown key"):
            ExampleTag().setup_from_dict({"some_string": "x", "colour": "red"})

    def test_setup_replaces_previous_content(self):
        tag = ExampleTag()
        tag.setup_from_string(TUTORIAL_STRING)
        tag.setup_from_dict({"some_string": "only"})
        assert str(tag) == f'<example_tag xmlns="{NAMESPACE}" some_string="only" />'
        assert list(tag) == []


def _element_with_text(text: str) -> ET.Element:
    element = ET.Element(f"{{{NAMESPACE}}}example_tag", {"some_string": "x"})
    element.text = text
    return element


def test_bundled_payload_is_the_top_level_file():
    from xmpp_ext.plugin.payload import bundled_payload

    assert bundled_payload().read_bytes() == (REPO / "test_example_tag.xml").read_bytes()
