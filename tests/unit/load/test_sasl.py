"""``xmppext load --sasl`` (xmpp_ext.load.sasl): one SASL mechanism for every session of a run."""

from __future__ import annotations

import asyncio

import pytest
from slixmpp.util.sasl import client as sasl_client

from xmpp_ext.load import sessions
from xmpp_ext.load.sasl import SASL_MECHANISMS
from xmpp_ext.session import ConnectionSettings
from xmpp_ext.util.secret import Secret

SETTINGS = ConnectionSettings(jid="load1@localhost/load", password=Secret("pw"), host="127.0.0.1", port=5222)


def mechanisms_of(sasl: str | None):
    async def build():
        session = sessions.new_session(SETTINGS, False, lambda _event: None, sasl=sasl)
        return session.client.plugin["feature_mechanisms"]

    return asyncio.run(build())


def chosen(plugin, offered: set[str], encrypted: bool) -> str:
    """The mechanism slixmpp picks from ``offered`` with this plugin's limit and its own credential and security
    callbacks, after STARTTLS (``encrypted``) or not: what ``_handle_sasl_auth`` would send."""
    if encrypted:
        plugin.xmpp.features.add("starttls")
    limit = {plugin.use_mech} if plugin.use_mech else None
    return sasl_client.choose(offered, plugin.sasl_callback, plugin.security_callback, limit=limit).name


@pytest.mark.parametrize("mechanism", SASL_MECHANISMS)
def test_a_session_told_one_mechanism_uses_that_one_even_when_a_stronger_is_offered(mechanism):
    plugin = mechanisms_of(mechanism)
    assert chosen(plugin, {*SASL_MECHANISMS, "SCRAM-SHA-512-PLUS"}, encrypted=True) == mechanism


def test_by_default_the_strongest_offered_mechanism_is_used():
    assert chosen(mechanisms_of(None), {"PLAIN", "SCRAM-SHA-1"}, encrypted=True) == "SCRAM-SHA-1"


def test_plain_is_never_chosen_on_a_stream_without_tls():
    with pytest.raises(sasl_client.SASLNoAppropriateMechanism):
        chosen(mechanisms_of("PLAIN"), {"PLAIN", "SCRAM-SHA-1"}, encrypted=False)


def test_an_unknown_mechanism_is_refused_before_anything_connects():
    with pytest.raises(ValueError, match="unknown SASL mechanism 'MD5'"):
        mechanisms_of("MD5")
