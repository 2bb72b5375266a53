"""What a load session does without (xmpp_ext.load.lean): parser feeds in bounded slices, no keepalive timer."""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree

import pytest

from xmpp_ext.load import lean
from xmpp_ext.session import ConnectionSettings, build_client, slixmpp_private
from xmpp_ext.util.secret import Secret

HEADER = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' version='1.0'>"
STANZA = b"<iq type='result' id='L1-%d' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"


class RecordingParser:
    def __init__(self) -> None:
        self.parser = ElementTree.XMLPullParser(("start", "end"))
        self.fed: list[int] = []

    def feed(self, data: bytes) -> None:
        self.fed.append(len(data))
        self.parser.feed(data)

    def read_events(self):
        return self.parser.read_events()


def ends(parser) -> list[str]:
    """The ids of the stanzas completed so far."""
    return [element.get("id") for event, element in parser.read_events() if event == "end" and element.get("id")]


def test_a_large_chunk_reaches_the_parser_in_slices_and_parses_the_same():
    many = b"".join(STANZA % number for number in range(200))  # ~15 KiB, stanzas cut across slices
    inner = RecordingParser()
    sliced = lean.SlicedFeed(inner)
    sliced.feed(HEADER)
    sliced.feed(many)
    assert max(inner.fed) <= lean.FEED_SLICE and sum(inner.fed) == len(HEADER) + len(many)
    assert ends(sliced) == [f"L1-{number}" for number in range(200)]


def test_a_small_chunk_goes_through_as_it_is():
    inner = RecordingParser()
    sliced = lean.SlicedFeed(inner)
    sliced.feed(HEADER + STANZA % 1)
    assert inner.fed == [len(HEADER + STANZA % 1)]
    assert ends(sliced) == ["L1-1"]


def client():
    return build_client(ConnectionSettings("load1@localhost/load", Secret("pw")), ())


@pytest.mark.parametrize("lean_client", [False, True])
def test_a_lean_client_sets_no_keepalive_timer_at_session_start(lean_client):
    built = client()
    if lean_client:
        lean.make_lean(built)

    async def start_session() -> bool:
        built.event("session_start")
        await asyncio.sleep(0)
        scheduled = "Whitespace Keepalive" in built.scheduled_events
        built.cancel_schedule("Whitespace Keepalive")
        return scheduled

    # Without: slixmpp's timer is there (what this test relies on to mean anything).
    assert asyncio.run(start_session()) is not lean_client


def test_a_lean_client_feeds_each_stream_parser_in_slices():
    built = client()
    lean.make_lean(built)
    built.init_parser()
    assert isinstance(built.parser, lean.SlicedFeed)


def test_a_lean_client_has_no_message_presence_or_roster_handlers():
    built = client()
    assert set(lean.UNUSED_HANDLERS) <= slixmpp_private.stanza_handler_names(
        built
    )  # slixmpp registers them: what is removed is there
    bookkeeping = slixmpp_private.presence_bookkeeping(built)
    assert all(built.event_handled(event) for event, _ in bookkeeping)
    lean.make_lean(built)
    assert not set(lean.UNUSED_HANDLERS) & slixmpp_private.stanza_handler_names(built)
    assert not any(built.event_handled(event) for event, _ in bookkeeping)
    assert {"Stream Features", "Stream Error"} <= slixmpp_private.stanza_handler_names(
        built
    )  # what logging in needs stays


def test_slixmpp_still_has_what_lean_reaches_into():
    assert slixmpp_private.missing(client()) == []


def feature_names(built) -> set[str]:
    return {name for _, name in slixmpp_private.stream_features(built)}


def test_a_lean_client_handles_no_feature_it_has_no_use_for():
    built = client()
    features = {feature for feature, _, _ in lean.UNUSED_FEATURES}
    assert features <= feature_names(built)  # slixmpp registers them: what is dropped is there
    lean.make_lean(built)
    assert not features & feature_names(built)
    assert {"starttls", "mechanisms", "bind", "session"} <= feature_names(built)
    assert not any(plugin in built.plugin for _, _, plugin in lean.UNUSED_FEATURES)


def test_a_feature_registered_in_another_order_stays_with_its_plugin():
    built = client()
    built.unregister_feature("limits", 10000)
    built.register_feature("limits", built.plugin["feature_limits"]._handle_limits, order=12345)
    lean.drop_unused_features(built)
    assert "limits" in feature_names(built) and "feature_limits" in built.plugin


def test_a_lean_client_class_never_registers_the_features_it_has_no_use_for():
    built = build_client(ConnectionSettings("load1@localhost/load", Secret("pw")), (), client_class=lean.LeanClient)
    assert not {feature for feature, _, _ in lean.UNUSED_FEATURES} & feature_names(built)
    assert not any(plugin in built.plugin for _, _, plugin in lean.UNUSED_FEATURES)
    assert {"starttls", "mechanisms", "bind", "session"} <= feature_names(built)  # what logging in needs is there
    assert feature_names(built) == feature_names(lean_by_removal())


def lean_by_removal():
    built = client()
    lean.make_lean(built)
    return built


def test_an_engine_load_session_is_a_lean_client_and_one_with_a_users_plugin_is_not():
    from xmpp_ext.load import sessions

    settings = ConnectionSettings("load1@localhost/load", Secret("pw"))

    async def classes():
        engine = sessions.new_session(settings, False, lambda _event: None)
        users = sessions.new_session(settings, False, lambda _event: None, ("xep_0199",))
        return type(engine.client), type(users.client), feature_names(users.client)

    engine, users, users_features = asyncio.run(classes())
    assert engine is lean.LeanClient and users is not lean.LeanClient
    assert not {feature for feature, _, _ in lean.UNUSED_FEATURES} & users_features  # dropped after the fact
