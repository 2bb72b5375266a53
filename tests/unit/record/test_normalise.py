"""The normaliser (xmpp_ext.record.normalise): each rule on a small recording, and every script parses back."""

from __future__ import annotations

import base64
import textwrap

import pytest
from slixmpp.xmlstream import ET

from xmpp_ext.record.normalise import QUIET_AFTER_SEND, REDACTED, normalise
from xmpp_ext.record.recording import Recording, Session, Step
from xmpp_ext.scenario.script import ANY, parse
from xmpp_ext.util.secret import Secret

ACCOUNTS = ["sender@localhost", "responder@localhost", "account3@localhost"]
PASSWORD = "kXq2-Secret_pw-9"


class Record:
    """A recording built step by step, each step ``gap`` seconds after the previous one."""

    def __init__(self) -> None:
        self.recording = Recording()
        self.now = 100.0

    def _step(self, session: Session, kind: str, xml: str | None, gap: float) -> None:
        self.now += gap
        element = None
        if xml is not None:
            element = ET.fromstring(f"<wrap xmlns='jabber:client'>{xml}</wrap>")[0]
        self.recording.steps.append(Step(self.now, session, kind, element))

    def connect(self, jid: str, gap: float = 0.01) -> Session:
        session = Session(len(self.recording.sessions) + 1, jid)
        self.recording.sessions.append(session)
        self._step(session, "connects", None, gap)
        return session

    def sends(self, session: Session, xml: str, gap: float = 0.01) -> None:
        self._step(session, "sends", xml, gap)

    def receives(self, session: Session, xml: str, gap: float = 0.01) -> None:
        self._step(session, "receives", xml, gap)

    def disconnect(self, session: Session, gap: float = 0.01) -> None:
        self._step(session, "disconnects", None, gap)

    def script(self, end_gap: float = 0.01, passwords: tuple[str, ...] = (PASSWORD,)):
        self.recording.ended_at = self.now + end_gap
        written = normalise(self.recording, ACCOUNTS, [Secret(p) for p in passwords], ["# test", "## recorded"])
        parse(written.text, "recorded.scs")  # every script the normaliser writes must read back
        return written


def actions(text: str) -> str:
    """The part after the line of dashes."""
    return text.split("-----\n", 1)[1]


def test_jids_become_variables_and_client_ids_are_renamed_consistently():
    record = Record()
    sender = record.connect("sender@localhost/a1b2")
    responder = record.connect("responder@localhost/xmppext")
    record.sends(sender, "<iq type='get' id='9f8e7d' to='responder@localhost/xmppext'><q xmlns='urn:x'/></iq>")
    record.receives(
        responder,
        "<iq type='get' id='9f8e7d' from='sender@localhost/a1b2' to='responder@localhost/xmppext'>"
        "<q xmlns='urn:x'/></iq>",
    )
    record.sends(
        responder,
        "<message id='m-77' to='sender@localhost/a1b2'><body>hi sender@localhost/a1b2, I am responder@localhost</body>"
        "<reply xmlns='urn:xmpp:reply:0' id='9f8e7d' to='sender@localhost/a1b2'/></message>",
    )
    text = actions(record.script().text)
    assert '<iq type="get" id="sender-1" to="${Responder\'s full JID}">' in text
    # Delivered to the receiver's own full JID: no "to"; from the sender's session: its variable.
    assert '<iq type="get" id="sender-1" from="${Sender\'s full JID}">' in text
    assert "<body>hi ${Sender's full JID}, I am ${Responder's JID}</body>" in text
    assert '<reply xmlns="urn:xmpp:reply:0" id="sender-1" to="${Sender\'s full JID}"/>' in text
    assert 'id="responder-1"' in text
    assert "a1b2" not in text and "9f8e7d" not in text


def test_clients_are_named_after_accounts_without_resources_and_with_a_placeholder_password():
    record = Record()
    sender = record.connect("sender@localhost/r4nd0m")
    record.disconnect(sender)
    script = record.script()
    assert script.clients == ["Sender"]
    assert "[Client] Sender\n\tjid: sender@localhost\n\tpassword: password\n" in script.text
    assert "r4nd0m" not in script.text


def test_two_sessions_of_one_account_at_once_get_two_clients_and_a_later_one_reuses_the_name():
    record = Record()
    first = record.connect("sender@localhost/one")
    second = record.connect("sender@localhost/two")
    record.sends(second, "<message id='x' to='sender@localhost/one'><body>me</body></message>")
    record.receives(
        first, "<message id='x' from='sender@localhost/two' to='sender@localhost/one'><body>me</body></message>"
    )
    record.disconnect(first)
    record.disconnect(second)
    third = record.connect("sender@localhost/three")
    record.disconnect(third)
    script = record.script()
    assert script.clients == ["Sender", "Sender 2"]
    text = actions(script.text)
    assert '<message id="sender2-1" to="${Sender\'s full JID}">' in text
    assert text.count("Sender connects") == 2 and text.count("Sender 2 connects") == 1


def test_an_account_only_named_gets_a_definition_so_the_replay_creates_it():
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.sends(sender, "<presence type='subscribe' id='s1' to='account3@localhost'/>")
    script = record.script()
    assert "[Client] Account3\n\tjid: account3@localhost\n" in script.text
    assert 'to="${Account3\'s JID}"' in script.text


def test_a_server_made_id_is_any_unless_a_client_sends_it_back_then_it_is_captured():
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.receives(
        sender, "<iq type='set' id='lx91'><query xmlns='jabber:iq:roster'><item jid='x@localhost'/></query></iq>"
    )
    record.sends(sender, "<iq type='result' id='lx91'/>")
    record.receives(sender, "<iq type='set' id='lx92'><query xmlns='jabber:iq:roster'/></iq>")
    record.receives(sender, "<message id='lx91' from='localhost'><body>again</body></message>")
    text = actions(record.script().text)
    assert '<iq type="set" id="{scansion:capture:server-id1}">' in text
    assert '<iq type="result" id="${server-id1}"/>' in text
    assert f'<iq type="set" id="{ANY}">' in text  # never sent back: any value
    assert '<message id="${server-id1}" from="localhost">' in text  # captured already: the same value


@pytest.mark.parametrize("namespace", ["http://jabber.org/protocol/disco#info", "jabber:x:data", "jabber:iq:roster"])
def test_order_free_payloads_are_not_strict(namespace):
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.receives(sender, f"<iq type='result' id='q'><query xmlns='{namespace}'><a/><b/></query></iq>")
    assert f'<query xmlns="{namespace}" scansion:strict="false">' in record.script().text


def test_what_the_server_adds_or_words_its_own_way_is_any_or_left_out():
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.connect("responder@localhost/b")
    record.sends(sender, "<iq type='get' id='v' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
    record.receives(
        sender,
        "<iq type='result' id='v' from='localhost' to='sender@localhost/a' xml:lang='en'>"
        "<query xmlns='jabber:iq:version'><name>Prosody</name><version>0.12.3</version></query></iq>",
    )
    record.sends(sender, "<iq type='get' id='r' xml:lang='en'><query xmlns='jabber:iq:roster' ver=''/></iq>")
    record.receives(
        sender, "<iq type='result' id='r' from='sender@localhost'><query xmlns='jabber:iq:roster' ver='3'/></iq>"
    )
    record.receives(
        sender,
        "<message from='responder@localhost/b' id='d'><body>x</body><delay xmlns='urn:xmpp:delay' "
        "stamp='2024-01-01T00:00:00Z' from='localhost'/><x xmlns='urn:x' xml:lang='en'/></message>",
    )
    record.receives(
        sender,
        "<presence from='responder@localhost/b'><show/><status/>"
        "<delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00Z'/></presence>",
    )
    text = actions(record.script().text)
    # xml:lang: left out where extra attributes are allowed, any where they are not (strict).
    assert '<iq type="result" id="sender-1" from="localhost">' in text
    assert f'<x xmlns="urn:x" xml:lang="{ANY}"/>' in text
    # the client's own xml:lang stays in what it sends
    assert '<iq type="get" id="sender-2" xml:lang="en">' in text
    assert f"<name>{ANY}</name>" in text and f"<version>{ANY}</version>" in text
    # from = own bare JID is the same as no from; roster ver (only Prosody sends it) left out
    assert '<iq type="result" id="sender-2">\n\t\t<query xmlns="jabber:iq:roster" scansion:strict="false"/>' in text
    assert f'<delay xmlns="urn:xmpp:delay" stamp="{ANY}" from="{ANY}"/>' in text
    # a presence's delay and empty show/status: one server sends them, another not
    assert '<presence from="${Responder\'s full JID}"/>' in text


def test_error_text_is_dropped_when_the_server_wrote_it_and_kept_when_a_client_did():
    record = Record()
    sender = record.connect("sender@localhost/a")
    responder = record.connect("responder@localhost/b")
    stanzas_ns = "urn:ietf:params:xml:ns:xmpp-stanzas"
    record.sends(sender, "<iq type='get' id='1' to='nobody@localhost/x'><q xmlns='urn:x'/></iq>")
    record.receives(
        sender,
        f"<iq type='error' id='1'><error type='cancel'><service-unavailable xmlns='{stanzas_ns}'/>"
        f"<text xmlns='{stanzas_ns}'>User session not found</text></error></iq>",
    )
    refusal = (
        f"<error type='modify'><bad-request xmlns='{stanzas_ns}'/>"
        f"<text xmlns='{stanzas_ns}'>needs a name</text></error>"
    )
    record.sends(responder, f"<iq type='error' id='2' to='sender@localhost/a'>{refusal}</iq>")
    record.receives(sender, f"<iq type='error' id='2' from='responder@localhost/b'>{refusal}</iq>")
    text = actions(record.script().text)
    assert "User session not found" not in text
    assert f'<service-unavailable xmlns="{stanzas_ns}"/>' in text
    assert text.count("needs a name") == 2


def test_silence_after_a_send_is_kept_as_receives_nothing():
    quiet = QUIET_AFTER_SEND + 0.5
    record = Record()
    sender = record.connect("sender@localhost/a")
    responder = record.connect("responder@localhost/b")
    record.sends(sender, "<iq type='result' id='push1'/>")  # nothing answers an ack
    record.sends(responder, "<presence/>", gap=quiet)
    record.receives(responder, "<presence from='responder@localhost/b'/>")
    record.sends(sender, "<message to='responder@localhost/b' type='headline'><body>1</body></message>", gap=quiet)
    record.sends(sender, "<message to='responder@localhost/b' type='headline'><body>2</body></message>")
    text = actions(record.script(end_gap=quiet).text)
    assert text.count("receives: nothing") == 2
    assert 'Sender sends:\n\t<iq type="result" id="sender-1"/>\n\nSender receives: nothing\n' in text
    # Two sends in quick succession make one block; the silence after them comes once, at the end.
    assert text.endswith("<body>2</body>\n\t</message>\n\nSender receives: nothing\n\n")
    # A send followed by what a client received is no silence.
    assert "Responder receives: nothing" not in text


def test_no_silence_when_the_next_step_came_quickly():
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.sends(sender, "<iq type='result' id='push1'/>")
    record.disconnect(sender, gap=QUIET_AFTER_SEND / 10)
    assert "nothing" not in record.script().text


def test_receives_between_sends_are_one_block_per_client_in_order_of_arrival():
    record = Record()
    sender = record.connect("sender@localhost/a")
    responder = record.connect("responder@localhost/b")
    record.sends(sender, "<presence><status>one</status></presence>")
    record.receives(sender, "<presence from='sender@localhost/a'><status>one</status></presence>")
    record.receives(responder, "<presence from='sender@localhost/a'><status>one</status></presence>")
    record.receives(sender, "<presence from='responder@localhost/b'><status>one</status></presence>")
    text = actions(record.script().text)
    first = text.index("Sender receives:")
    assert text.count("receives:") == 2 and first < text.index("Responder receives:")
    assert text.index('from="${Sender\'s full JID}"', first) < text.index('from="${Responder\'s full JID}"')


def test_a_password_in_a_stanza_is_replaced_in_every_form_and_noted():
    plain = base64.b64encode(f"\0sender\0{PASSWORD}".encode()).decode()
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.sends(sender, f"<message to='responder@localhost'><body>{PASSWORD} {encoded} {plain}</body></message>")
    script = record.script()
    for secret in (PASSWORD, encoded, plain):
        assert secret not in script.text
    assert f"<body>{REDACTED} {REDACTED} {REDACTED}</body>" in script.text
    assert any("password" in note for note in script.notes)


def test_literal_text_survives_the_round_trip_exactly():
    tricky = 'a ${Sender\'s JID} & <b> "q" {scansion:any}'.replace("{scansion:any}", "plain")
    multiline = "line one\n\tline two"
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.sends(sender, "<message to='localhost'><body/><subject/></message>")
    step = record.recording.steps[-1]
    step.stanza[0].text, step.stanza[1].text = tricky, multiline
    parsed = parse(record.script().text, "t.scs")
    (sent,) = parsed.actions[1].stanzas
    assert sent[0].text == tricky  # "${" written as "$&#123;": no variable
    assert sent[1].text == multiline
    assert parsed.variables == []


def test_mixed_content_stays_on_one_line_so_nothing_is_added_to_it():
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.sends(sender, "<iq type='get' id='1' to='localhost'><t xmlns='urn:x'>text<inner a='1'/>tail</t></iq>")
    assert '\t\t<t xmlns="urn:x">text<inner a="1"/>tail</t>\n' in record.script().text


def test_a_truncated_recording_says_so():
    record = Record()
    record.connect("sender@localhost/a")
    record.recording.truncated = "more than 20000 stanzas or 32 MiB"
    (note,) = record.script().notes
    assert "stopped early" in note


def test_a_full_script_reads_as_expected():
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.sends(sender, "<iq type='get' id='abc' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    record.receives(sender, "<iq type='result' id='abc' from='localhost' to='sender@localhost/a'/>")
    record.disconnect(sender)
    assert record.script().text == textwrap.dedent(
        """\
        # test
        ## recorded

        [Client] Sender
        \tjid: sender@localhost
        \tpassword: password

        -----

        Sender connects

        Sender sends:
        \t<iq type="get" id="sender-1" to="localhost">
        \t\t<ping xmlns="urn:xmpp:ping"/>
        \t</iq>

        Sender receives:
        \t<iq type="result" id="sender-1" from="localhost"/>

        Sender disconnects

        """
    )


def test_an_answer_that_came_after_an_acknowledgement_is_expected_before_it():
    """ejabberd pushes before the result: the client's ack of the push may beat the result by a hair."""
    record = Record()
    sender = record.connect("sender@localhost/a")
    record.sends(
        sender, "<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='x@localhost'/></query></iq>"
    )
    record.receives(
        sender, "<iq type='set' id='push9'><query xmlns='jabber:iq:roster'><item jid='x@localhost'/></query></iq>"
    )
    record.sends(sender, "<iq type='result' id='push9'/>")
    record.receives(sender, "<iq type='result' id='r1'/>")
    record.sends(sender, "<presence/>", gap=QUIET_AFTER_SEND + 0.5)
    text = actions(record.script().text)
    result, ack = text.index('<iq type="result" id="sender-1"/>'), text.index('<iq type="result" id="${server-id1}"/>')
    assert text.index("capture:server-id1") < result < ack
    assert text.count("Sender receives:\n") == 1  # push and result in one block: in either order
    assert 'id="${server-id1}"/>\n\nSender receives: nothing' in text
