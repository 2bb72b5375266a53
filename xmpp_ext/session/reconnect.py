"""The one reconnection policy: when to come back after a cut, how often to try, and when to give up.

Every job's session follows it (``xmpp_ext.session.session.Session``): the
first attempt at once, then ``first_delay`` doubling up to ``max_delay``;
stream errors are final unless they say the server is going away, restarting
or had trouble of its own (RFC 6120 §4.9.3); a server that refuses to resume
``max_refusals`` times in a row ends the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from xmpp_ext.session.streammgmt import MAX_SEQ

#: Stream errors after which connecting again makes sense: the server is going away or restarting,
#: dropped an idle stream, or failed on its side (Prosody's "client acknowledged more stanzas than sent",
#: a parser that stumbled after a resumption). Any other (conflict, policy-violation, not-authorized,
#: see-other-host, ...) is the server ending the session on purpose: coming back would only repeat it.
TRANSIENT_STREAM_ERRORS = frozenset(
    {
        "system-shutdown",
        "reset",
        "connection-timeout",
        "internal-server-error",
        "remote-connection-failed",
        "undefined-condition",
        "not-well-formed",
    }
)


def is_final(condition: str) -> bool:
    """Whether a stream error with ``condition`` ends the session for good."""
    return condition not in TRANSIENT_STREAM_ERRORS


@dataclass(frozen=True)
class ReconnectPolicy:
    """When a cut session comes back.

    ``give_up_after``: seconds from the cut after which the session is lost
    (None: keep trying until the job stops). ``resumable_only``: come back
    only to a stream that can be resumed (a job whose work cannot survive a
    new session, such as a sender without stream management, gives up at once
    instead).
    """

    first_delay: float = 0.25
    max_delay: float = 10.0
    give_up_after: float | None = None
    resumable_only: bool = False
    max_refusals: int = 3
    #: Seconds a resumed stream has to answer an ack request before it is dropped for a new session
    #: (``xmpp_ext.session.verify``); 0: trust every resumption.
    verify_within: float = 5.0

    def delays(self) -> Iterator[float]:
        """The waits before each attempt: 0, then ``first_delay`` doubling up to ``max_delay``, forever."""
        yield 0.0
        delay = self.first_delay
        while True:
            yield delay
            delay = min(self.max_delay, delay * 2)


@dataclass(frozen=True)
class Refusal:
    """What a server's ``<failed/>`` to our ``<resume/>`` said, with our unacknowledged stanzas at that moment.

    ``h`` is the count of our stanzas the server says it handled (Prosody
    gives it, ejabberd does not). A stanza written with a ``seq`` beyond it
    provably never reached the server; any other unacknowledged one did, and
    whatever answered it went to the old session.
    """

    cause: str
    h: int | None
    unacked: list[tuple[int, object]] = field(default_factory=list)

    def never_arrived(self) -> list[object]:
        """The stanzas the server proves it never handled, oldest first (re-sent over the new session)."""
        if self.h is None:
            return []
        h = self.h
        return [stanza for seq, stanza in self.unacked if 0 < (seq - h) % MAX_SEQ < MAX_SEQ // 2]

    def to_send_again(self) -> list[object]:
        """What the session sends again, as it was, over the new session.

        With ``h``: what it proves never arrived. Without: every unacknowledged stanza, since any of them may
        have been lost with the old session; a reply sent twice is counted as a duplicate by its receiver, a
        request asked twice is answered once by a responder that remembers it (and asked again under a new id
        by the send job in any case).
        """
        if self.h is None:
            return [stanza for _seq, stanza in self.unacked]
        return self.never_arrived()


# -- what a session tells its job --------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """The connection dropped; the session tries again after ``next_delay`` seconds."""

    reason: str
    next_delay: float


@dataclass(frozen=True)
class AttemptFailed:
    """A reconnection attempt failed; the next one is in ``next_delay`` seconds."""

    reason: str
    next_delay: float


@dataclass(frozen=True)
class Resumed:
    """The server resumed the stream: same session, and slixmpp re-sent the ``resent`` it had not acknowledged."""

    after_s: float
    resent: int


@dataclass(frozen=True)
class NewSession:
    """A new session started after a cut. ``refusal``: why the old stream was not resumed (None: it could not be).

    ``resent`` stanzas the refusal proves never arrived were sent again over the new session.
    """

    after_s: float
    refusal: Refusal | None
    resent: int


@dataclass(frozen=True)
class Lost:
    """The session is over for good; ``condition`` is the stream error's, when one ended it."""

    reason: str
    condition: str | None = None


SessionEvent = Cut | AttemptFailed | Resumed | NewSession | Lost
