"""Offline sessions for unit tests: SlixTest's mock stream, on a client the session layer built.

``SessionTest.start_session`` makes the client the way the program does
(``xmpp_ext.session.Session``: the XEP-0198 counter, the depth guard, then the
plugins) and hands it to SlixTest, which connects it to its mock transport.
"""

from __future__ import annotations

from unittest import mock

from slixmpp.test import SlixTest, slixtest

from xmpp_ext.session import ConnectionSettings, Session
from xmpp_ext.util.secret import Secret


class SessionTest(SlixTest):
    def start_session(self, jid: str = "tester@localhost/resource", plugins=(), **session_options) -> Session:
        made: list[Session] = []

        def make_client(jid, password, **_slixtest_options):
            session = Session(ConnectionSettings(jid, Secret(password)), plugins, **session_options)
            made.append(session)
            return session.client

        with mock.patch.object(slixtest, "ClientXMPP", make_client):
            self.stream_start(jid=jid, plugins=[])
        self.session = made[0]
        return self.session


def start_responder(test: SessionTest, options=None, every_line: bool = False, stream_management=None):
    """A responder on an offline session, its lines collected in ``test.lines``; returns (responder, lines)."""
    from xmpp_ext.jobs.respond import RESPONDER_PLUGINS, Responder, RespondLines, RespondOptions

    session = test.start_session("responder@localhost/xmppext", RESPONDER_PLUGINS, stream_management=stream_management)
    test.lines = []
    lines = RespondLines(test.lines.append, session.client.loop, every_line=every_line)
    responder = Responder(
        session.client, session.writer, options or RespondOptions(), lines.record, show_received=every_line
    )
    return responder, lines
