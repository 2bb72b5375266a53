"""``respond --plugin``: the user's plugin answers; the allow-list, counts and size limit stay the responder's."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest
from click.testing import CliRunner
from slixmpp import Iq, Message
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.base import BasePlugin, register_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.sessions import SessionTest
from xmpp_ext.cli import cli
from xmpp_ext.jobs.respond import RespondLines, RespondOptions
from xmpp_ext.jobs.respond.plugged import PluginResponder
from xmpp_ext.session.userplugin import PluginLoadError, load_plugin

NS = "urn:example:echo"


class EchoPlugin(BasePlugin):
    """Answers <echo xmlns='urn:example:echo'>text</echo> with the text back; refuses an empty one."""

    name = "test_echo"
    description = "echo"

    def plugin_init(self) -> None:
        self.xmpp.register_handler(Callback("echo", MatchXPath(f"{{jabber:client}}iq/{{{NS}}}echo"), self._echo))
        self.xmpp.register_handler(
            Callback("echo msg", MatchXPath(f"{{jabber:client}}message/{{{NS}}}echo"), self._msg)
        )

    def _echo(self, iq: Iq) -> None:
        text = iq.xml[0].text or ""
        if not text:
            raise XMPPError("bad-request", text="nothing to echo", etype="modify")
        if text == "crash":
            raise ValueError("the echo table is broken")
        if text == "answer then crash":
            iq.reply(clear=True).send()
            raise ValueError("broken after answering")
        reply = iq.reply(clear=True)
        reply.xml.append(iq.xml[0])
        reply.send()

    def _msg(self, msg: Message) -> None:
        self.xmpp.make_message(mto=msg["from"], mbody=msg.xml.find(f"{{{NS}}}echo").text or "", mtype="chat").send()


register_plugin(EchoPlugin)


class TestPluginResponder(SessionTest):
    def start(self, **options):
        session = self.start_session("bot@localhost/r", ("xep_0030", "test_echo"))
        self.lines = []
        lines = RespondLines(self.lines.append, session.client.loop)
        self.enough = []
        self.responder = PluginResponder(
            session.client, RespondOptions(plugin="test_echo", **options), lines.record, lambda: self.enough.append(1)
        )

    def tearDown(self):
        self.stream_close()

    def test_the_plugin_answers_and_every_answer_is_a_line(self):
        self.start()
        self.recv(f'<iq type="get" id="e1" from="alice@localhost/a"><echo xmlns="{NS}">hi</echo></iq>')
        self.send(
            f'<iq type="result" id="e1" to="alice@localhost/a"><echo xmlns="{NS}">hi</echo></iq>', use_values=False
        )
        self.recv(f'<iq type="set" id="e2" from="alice@localhost/a"><echo xmlns="{NS}"/></iq>')
        self.send(
            '<iq type="error" id="e2" to="alice@localhost/a"><error type="modify">'
            '<bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">nothing to echo</text></error></iq>',
            use_values=False,
        )
        assert self.lines == [
            f"iq get from alice@localhost/a: answered result (carrying <echo xmlns='{NS}'>)",
            "iq set from alice@localhost/a: refused with an error (bad-request: nothing to echo)",
        ]
        assert self.responder.answered == 2

    def test_a_sender_outside_allow_is_refused_before_the_plugin_sees_it(self):
        self.start(allow=frozenset({"alice@localhost"}))
        self.recv(f'<iq type="get" id="m1" from="mallory@localhost/m"><echo xmlns="{NS}">hi</echo></iq>')
        self.send(
            '<iq type="error" id="m1" to="mallory@localhost/m"><error type="auth">'
            '<forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">not allowed to use this responder</text></error></iq>',
            use_values=False,
        )
        self.recv(f'<message type="chat" from="mallory@localhost/m"><echo xmlns="{NS}">hi</echo></message>')
        self.send(None, timeout=0.2)  # nothing: the plugin never saw the message
        assert self.lines == [
            "iq get from mallory@localhost/m: refused with forbidden (not in --allow)",
            "message from mallory@localhost/m: ignored (not in --allow)",
        ]

    def test_a_message_back_to_its_writer_counts_and_count_stops_the_run(self):
        self.start(count=1)
        self.recv(f'<message type="chat" from="alice@localhost/a" id="x"><echo xmlns="{NS}">yo</echo></message>')
        self.send('<message type="chat" to="alice@localhost/a"><body>yo</body></message>', use_values=False)
        assert self.lines == ["message from alice@localhost/a: answered with a reply"]
        assert self.enough == [1]

    def test_an_answer_larger_than_the_server_accepts_becomes_a_small_error(self):
        self.start()
        self.responder.reply_budget = 200
        self.recv(f'<iq type="get" id="big" from="alice@localhost/a"><echo xmlns="{NS}">{"x" * 300}</echo></iq>')
        self.send(
            '<iq type="error" id="big" to="alice@localhost/a"><error type="cancel">'
            '<internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">the answer was too large to send</text></error></iq>',
            use_values=False,
        )
        assert "not answered (the plugin's answer" in self.lines[0]

    def test_a_handler_that_raises_is_internal_server_error_one_line_and_one_traceback(self):
        self.start()
        with self.assertLogs(level="ERROR") as logs:
            self.recv(f'<iq type="set" id="c1" from="alice@localhost/a"><echo xmlns="{NS}">crash</echo></iq>')
            self.send(
                '<iq type="error" id="c1" to="alice@localhost/a"><error type="cancel">'
                '<internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
                '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">the responder failed to answer</text></error></iq>',
                use_values=False,
            )
        assert self.lines == [
            "iq set from alice@localhost/a: the plugin failed "
            "(ValueError: the echo table is broken; internal-server-error sent)"
        ]
        assert self.responder.answered == 1
        tracebacks = [record for record in logs.records if record.exc_info]
        assert len(tracebacks) == 1 and "the echo table is broken" in str(tracebacks[0].exc_info[1])
        # The next request is the plugin's again.
        self.recv(f'<iq type="get" id="c2" from="alice@localhost/a"><echo xmlns="{NS}">hi</echo></iq>')
        self.send(
            f'<iq type="result" id="c2" to="alice@localhost/a"><echo xmlns="{NS}">hi</echo></iq>', use_values=False
        )

    def test_a_handler_that_answers_then_raises_sends_its_answer_only(self):
        self.start()
        with self.assertLogs(level="ERROR") as logs:
            self.recv(
                f'<iq type="get" id="a1" from="alice@localhost/a"><echo xmlns="{NS}">answer then crash</echo></iq>'
            )
            self.send('<iq type="result" id="a1" to="alice@localhost/a"/>', use_values=False)
        self.send(None, timeout=0.2)  # no second response to the same request (RFC 6120 §8.2.3)
        assert self.lines == ["iq get from alice@localhost/a: answered result"]
        assert [str(record.exc_info[1]) for record in logs.records if record.exc_info] == ["broken after answering"]

    def test_service_discovery_is_the_sessions_not_the_plugins(self):
        self.start(allow=frozenset({"alice@localhost"}))
        self.recv(
            '<iq type="get" id="d1" from="mallory@localhost/m"><query xmlns="http://jabber.org/protocol/disco#info"/>'
            "</iq>"
        )
        sending = asyncio.ensure_future(self.xmpp.run_filters())  # SlixTest runs the send queue only when asked
        self.run_coro(asyncio.sleep(0.2))  # xep_0030 answers from a coroutine
        sending.cancel()
        reply = self.xmpp.socket.next_sent(timeout=1)
        assert reply is not None and b'type="result"' in reply
        assert self.lines == [] and self.responder.answered == 0


# -- loading the plugin ------------------------------------------------------------------------------------------


@pytest.fixture
def in_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [path for path in sys.path if path not in ("", str(tmp_path))])
    yield tmp_path
    for name in ("userbot", "brokenbot"):
        sys.modules.pop(name, None)


def test_a_plugin_in_the_current_directory_is_imported_and_registered(in_directory):
    (in_directory / "userbot.py").write_text(
        textwrap.dedent(
            """
            from slixmpp.plugins import BasePlugin

            class Answers(BasePlugin):
                name = "userbot_answers"

            NOT_A_PLUGIN = 3
            """
        )
    )
    assert load_plugin("userbot:Answers").name == "userbot_answers"
    with pytest.raises(PluginLoadError, match="userbot:NOT_A_PLUGIN is not a slixmpp plugin"):
        load_plugin("userbot:NOT_A_PLUGIN")
    with pytest.raises(PluginLoadError, match="module 'userbot' has no 'Missing'"):
        load_plugin("userbot:Missing")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuchmodule_xyz:Plugin", "no module named 'nosuchmodule_xyz' (looked in the current directory"),
        ("brokenbot:Plugin", "importing 'brokenbot' failed: ZeroDivisionError"),
        ("justamodule", "is not module:Class"),
    ],
)
def test_a_plugin_that_cannot_be_loaded_is_exit_2_in_one_line(in_directory, spec, message):
    (in_directory / "brokenbot.py").write_text("1 / 0\n")
    env = {"XMPPEXT_JID": "bot@localhost", "XMPPEXT_PASSWORD": "not-used"}
    result = CliRunner().invoke(cli, ["respond", "--plugin", spec], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: Invalid value for --plugin")


def test_options_that_shape_example_tags_answers_do_not_go_with_a_plugin():
    env = {"XMPPEXT_JID": "bot@localhost", "XMPPEXT_PASSWORD": "not-used"}
    result = CliRunner().invoke(cli, ["respond", "--plugin", "x:Y", "--reply-string", "z"], env=env)
    assert result.exit_code == 2 and "--reply-string shapes example_tag's answers" in result.output


def test_a_plugin_that_cannot_start_is_refused_before_anything_connects(in_directory, caplog):
    (in_directory / "userbot.py").write_text(
        textwrap.dedent(
            """
            from slixmpp.plugins import BasePlugin

            class NeedsMissing(BasePlugin):
                name = "userbot_needs_missing"
                dependencies = {"nonexistent_plugin_xyz"}

            class FailsToStart(BasePlugin):
                name = "userbot_fails_to_start"

                def plugin_init(self):
                    raise ValueError("no greeting table")
            """
        )
    )
    with pytest.raises(PluginLoadError, match="depends on a plugin slixmpp cannot find: nonexistent_plugin_xyz"):
        load_plugin("userbot:NeedsMissing")
    with pytest.raises(PluginLoadError, match="userbot_fails_to_start cannot start: ValueError: no greeting table"):
        load_plugin("userbot:FailsToStart")
    assert "Traceback" not in caplog.text  # slixmpp's own report of the failure stays quiet
