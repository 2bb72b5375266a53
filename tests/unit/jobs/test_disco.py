"""xmpp_ext.jobs.disco's listing, without a server."""

from __future__ import annotations


def test_disco_listing_format():
    from xmpp_ext.jobs.disco import DiscoResult, format_listing

    result = DiscoResult(
        identities=[{"category": "client", "type": "bot", "name": "xmppext", "lang": None}],
        features=["a", "b"],
        items=[{"jid": "x@localhost", "node": "n", "name": None}],
    )
    assert format_listing(result) == [
        "Identities:",
        "  client/bot  xmppext",
        "Features:",
        "  a",
        "  b",
        "Items:",
        "  x@localhost  node=n",
    ]
