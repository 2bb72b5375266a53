"""``xmppext load --sasl``: every session of a run authenticates with one SASL mechanism, or not at all.

By default slixmpp picks the strongest mechanism both sides offer (SCRAM on
Prosody and ejabberd). Another load tool may know only PLAIN (Tsung's jabber
plugin): to compare the two on the same work, the run can insist on it.
PLAIN stays what slixmpp allows by default: sent only on a TLS stream
(``unencrypted_plain`` is left off), never the default here.

Light on purpose: the command line imports it for ``--sasl``'s choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import slixmpp

#: The mechanisms ``--sasl`` accepts (slixmpp implements each).
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512")


def only_sasl(client: slixmpp.ClientXMPP, mechanism: str) -> None:
    """``client`` authenticates with ``mechanism`` only (before it connects): a server that does not offer it
    ends the login with "no usable SASL mechanism offered"."""
    if mechanism not in SASL_MECHANISMS:
        raise ValueError(f"unknown SASL mechanism {mechanism!r} (one of {', '.join(SASL_MECHANISMS)})")
    client.plugin["feature_mechanisms"].use_mech = mechanism
