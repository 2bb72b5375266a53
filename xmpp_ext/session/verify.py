"""A resumed stream is trusted only once the server shows it is parsing what we send.

Prosody 0.12 (mod_c2s/mod_smacks) keeps feeding a resumed session's bytes to
the parser of the connection that was cut. If the cut left a partial stanza
in that parser, what we send after ``<resumed/>`` continues it: a cut inside a
tag gives ``not-well-formed`` (and the resumption token is revoked), a cut
right after a start tag swallows everything, with no answer and no error.

So right after ``<resumed/>``, before anything else goes out, we ask for an
ack (``<r/>``, written at once while slixmpp's re-sends wait for its send
task) and hold our own writes until the ``<a/>`` comes back; then we ask a
second time. (Measured with Prosody 0.12.3: the first ``<r/>`` may still be
answered, and the next bytes then fail with ``not-well-formed``.) No answer
within the bound, or the server closing the stream with an error, means the
resumed stream is broken: the session starts a new one. What we wrote after
``<resumed h=X/>`` may or may not have been handled (a slow server answers
late, a broken parser never), so the job asks again, under new ids, for
everything still awaiting its reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import slixmpp
from slixmpp.xmlstream import StanzaBase

from xmpp_ext.session import streammgmt

SM_ACK_TAG = "{urn:xmpp:sm:3}a"
#: Ack requests a resumed stream must answer, one after the other, before it is trusted.
ROUNDS = 2


class ResumptionCheck:
    """Asks for an ack on a just-resumed stream; ``on_result(True)`` once it comes, ``on_result(False)`` when
    ``within`` seconds pass first (the session then drops the stream)."""

    def __init__(
        self, client: slixmpp.ClientXMPP, within: float, on_result: Callable[[bool], None]
    ) -> None:
        self._client = client
        self._on_result = on_result
        self.unacked = streammgmt.unacked(client)  # ours, as they were then
        self.done = False
        self._rounds_left = ROUNDS
        client.add_filter("in", self._watch_ack)
        self._timer = client.loop.call_later(within, self.finish, False)
        streammgmt.request_ack(client)

    def finish(self, answered: bool) -> None:
        if self.abandon():
            self._on_result(answered)

    def abandon(self) -> bool:
        """Stop checking without a verdict (a plain cut: the next connection resumes again); False if done."""
        if self.done:
            return False
        self.done = True
        self._timer.cancel()
        self._client.del_filter("in", self._watch_ack)
        return True

    def _watch_ack(self, stanza: StanzaBase) -> StanzaBase:
        if stanza.xml.tag == SM_ACK_TAG and not self.done:
            self._rounds_left -= 1
            if self._rounds_left:
                streammgmt.request_ack(self._client)
            else:
                # After the slixmpp filter loop has moved on: del_filter inside a filter would skip the next one.
                asyncio.get_running_loop().call_soon(self.finish, True)
        return stanza
