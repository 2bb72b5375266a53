"""One pair's exchange: a sender's requests and a responder's answers, at the cost of the wire.

Both sides work the way ``send``'s burst and ``respond`` do (xmpp_ext.jobs.burst,
xmpp_ext.jobs.respond): a request is serialised once and sent as
``prefix + id + suffix``; replies are claimed by a dict lookup on their id
before slixmpp's handler scan (without stream management, before slixmpp
even makes a stanza object of them: ``take_first``); writes made in
one event-loop pass leave as one TLS record (the session's ``SessionWriter``,
which also counts them for stream management). What is kept per request is one dict
entry (id -> the time the request is measured from), nothing else.

Kinds: ``iq`` (a get carrying the tag, answered with a result carrying the
tag), ``message`` (a chat message carrying the tag, answered with a message
carrying the tag and a XEP-0461 ``<reply/>`` naming the request's id), ``ping``
(XEP-0199 to the server itself: the responder stays idle; the server's own
cost, without the extension). With a ``payload`` of the user's (``load
--raw``), an iq get carries it instead of the tag and any result ends it ok:
the user's plugin answers it (``--responder-plugin``), or else the responder
here, with an empty result.

A request is measured from the moment it was *due*: in closed loop (a window
per sender) that is when it was sent, in open loop (a rate) when the schedule
said it should leave, even if it had to wait (its sender's window of
``MAX_IN_FLIGHT`` was full): a stall then shows in the percentiles instead of
slowing the clock down (no coordinated omission).
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import slixmpp
from slixmpp.plugins.xep_0198.stream_management import MAX_SEQ
from slixmpp.xmlstream import ET

from xmpp_ext.plugin import EXAMPLE_TAG, ExampleTag
from xmpp_ext.plugin.payload import request_payload_problem
from xmpp_ext.plugin.wire import IQ_TAG, quoteattr
from xmpp_ext.session import slixmpp_private
from xmpp_ext.session.streammgmt import SessionWriter

MESSAGE_TAG = "{jabber:client}message"
REPLY_NAMESPACE = "urn:xmpp:reply:0"
REPLY_TAG = f"{{{REPLY_NAMESPACE}}}reply"
ERROR_TAG = "{jabber:client}error"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
#: Requests one sender keeps in flight in open loop; those due beyond it wait, measured from when they were due.
MAX_IN_FLIGHT = 1024
#: Requests one sender keeps waiting in open loop; beyond, they are counted ``unsent`` (the generator fell behind).
MAX_BACKLOG = 100_000
#: Longest id or JID a responder copies into an answer (a longer one is not answered).
MAX_ECHOED = 1024
#: Answers a stalled responder holds (see Responder.stall); beyond, requests go unanswered.
MAX_HELD_ANSWERS = 100_000
SOME_STRING = "LoadString"
REPLY_STRING = "Reply_string"


class Kind(StrEnum):
    IQ = "iq"
    MESSAGE = "message"
    PING = "ping"


class Outcomes:
    """What a sender tells its worker about each request (the worker's per-second tally implements it)."""

    def ok(self, latency: float) -> None: ...

    def failed(self, condition: str) -> None: ...

    def lost(self) -> None: ...

    def late(self) -> None: ...

    def unsent(self, count: int) -> None: ...


class Expiry:
    """Which senders may hold requests past their time-out: an entry per request sent (when it was due, its
    sender), in send order, so that looking for lost requests costs what has come due, not a call per sender.

    An entry stays until its request's time-out has passed, answered or not: at most the requests sent in one
    time-out. A request that waited in its sender's backlog is entered when it is sent, behind requests due
    after it: it is counted lost at most that wait late.
    """

    def __init__(self) -> None:
        self._sent: collections.deque[tuple[float, Sender]] = collections.deque()

    def sent(self, due: float, sender: Sender) -> None:
        self._sent.append((due, sender))

    def expire(self, deadline: float) -> None:
        """Have every sender of a request due before ``deadline`` count those still unanswered as lost."""
        sent = self._sent
        while sent and sent[0][0] < deadline:
            sent.popleft()[1].expire(deadline)

    def __len__(self) -> int:
        return len(self._sent)


def _tag(some_string: str) -> str:
    tag = ExampleTag()
    tag.fill_interfaces(True, some_string)
    from slixmpp.xmlstream import tostring

    return tostring(tag.xml)


class Sender:
    """Sends one pair's requests to its responder (or the server, for ping) and claims the replies."""

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        writer: SessionWriter,
        peer: str,
        kind: Kind,
        outcomes: Outcomes,
        number: int,
        expiry: Expiry | None = None,
        payload: str | None = None,
    ) -> None:
        self._client = client
        self._expiry = expiry  # None: the owner calls expire() on each sender
        self._checks_tag = payload is None  # a result must carry example_tag (not a user's payload's answer)
        self._kind = kind
        self._outcomes = outcomes
        self._peer = client.boundjid.domain if kind is Kind.PING else peer
        to = quoteattr(self._peer)
        if kind is Kind.MESSAGE:
            self._prefix = f"<message xmlns='jabber:client' type='chat' to={to} id='"
            self._suffix = f"'><body>load</body>{_tag(SOME_STRING)}</message>"
        elif kind is Kind.PING:
            self._prefix = f"<iq xmlns='jabber:client' type='get' to={to} id='"
            self._suffix = "'><ping xmlns='urn:xmpp:ping'/></iq>"
        else:
            self._prefix = f"<iq xmlns='jabber:client' type='get' to={to} id='"
            self._suffix = f"'>{_tag(SOME_STRING)}</iq>" if payload is None else _raw_suffix(payload)
        self._id_prefix = f"L{number:x}-"
        self._sequence = 0
        self._pending: dict[str, float] = {}  # id -> when it was due; in send order
        self._backlog: collections.deque[float] = collections.deque()  # open loop: due, not yet sent
        self._writer = writer
        self._window = 1
        self._remaining: int | None = None  # closed loop: requests left to send (None: until stopped)
        self._closed_loop = False
        self._stopped = False
        take_first(client, self._claims)

    # -- sending ---------------------------------------------------------------------

    def start_closed_loop(self, window: int, count: int | None) -> None:
        """Keep ``window`` requests in flight, ``count`` in all (None: until ``stop``)."""
        self._closed_loop = True
        self._window = window
        self._remaining = count
        self._fill()

    def issue(self, due: float) -> None:
        """Open loop: one request due at ``due`` (time.monotonic()); sent now unless the window is full."""
        if self._stopped:
            return
        if len(self._pending) < MAX_IN_FLIGHT and not self._backlog:
            self._send(due)
        elif len(self._backlog) < MAX_BACKLOG:
            self._backlog.append(due)
        else:
            self._outcomes.unsent(1)

    def _fill(self) -> None:
        while not self._stopped and len(self._pending) < self._window and self._remaining != 0:
            if self._remaining is not None:
                self._remaining -= 1
            self._send(time.monotonic())

    def _send(self, due: float) -> None:
        self._sequence += 1
        request_id = f"{self._id_prefix}{self._sequence}"
        self._pending[request_id] = due
        if self._expiry is not None:
            self._expiry.sent(due, self)
        self._writer.write(f"{self._prefix}{request_id}{self._suffix}")

    def _next(self) -> None:
        """A request ended: send the next one its loop allows."""
        if self._closed_loop:
            self._fill()
        elif self._backlog and not self._stopped:
            self._send(self._backlog.popleft())

    # -- replies ---------------------------------------------------------------------

    def _claims(self, xml) -> bool:
        """Whether ``xml`` (a stanza received) is a reply to one of our requests: then it is counted here."""
        if xml.tag == IQ_TAG:
            return self._kind is not Kind.MESSAGE and self._claim_iq(xml)
        if xml.tag == MESSAGE_TAG and self._kind is Kind.MESSAGE:
            return self._claim_message(xml)
        return False

    def _claim_iq(self, xml) -> bool:
        request_id = xml.get("id")
        itype = xml.get("type")
        if itype not in ("result", "error") or not self._ours(request_id, xml):
            return False
        due = self._pending.pop(request_id, None)
        if due is None:
            self._outcomes.late()
        elif itype == "error":
            self._outcomes.failed(_condition(xml))
        elif self._kind is Kind.IQ and self._checks_tag and xml.find(EXAMPLE_TAG) is None:
            self._outcomes.failed("result-without-example_tag")
        else:
            self._outcomes.ok(time.monotonic() - due)
        self._next()
        return True

    def _claim_message(self, xml) -> bool:
        if xml.get("type") == "error":
            request_id = xml.get("id")
            if not self._ours(request_id, xml):
                return False
            if self._pending.pop(request_id, None) is None:
                self._outcomes.late()
            else:
                self._outcomes.failed(_condition(xml))
            self._next()
            return True
        reply = xml.find(REPLY_TAG)
        if reply is None:
            return False
        request_id = reply.get("id")
        if not self._ours(request_id, xml):
            return False
        due = self._pending.pop(request_id, None)
        if due is None:
            self._outcomes.late()
        else:
            self._outcomes.ok(time.monotonic() - due)
        self._next()
        return True

    def _ours(self, request_id: str | None, xml) -> bool:
        if not request_id or not request_id.startswith(self._id_prefix):
            return False
        sender = xml.get("from")
        return sender is None or sender == self._peer or (self._kind is Kind.PING and "@" not in sender)

    # -- ending ----------------------------------------------------------------------

    def expire(self, deadline: float) -> None:
        """Count as lost every request due before ``deadline`` (oldest first) and send the next ones."""
        expired = 0
        for due in self._pending.values():
            if due >= deadline:
                break
            expired += 1
        if not expired:
            return
        for request_id in list(self._pending)[:expired]:
            del self._pending[request_id]
            self._outcomes.lost()
        for _ in range(expired):
            self._next()

    def issued_all(self) -> None:
        """Open loop: no request will be due any more (those waiting are still sent)."""
        self._remaining = 0

    def stop(self) -> None:
        """Send nothing more; requests in flight still end (a reply, or lost at their time-out)."""
        self._stopped = True
        if self._backlog:
            self._outcomes.unsent(len(self._backlog))
            self._backlog.clear()

    def abandon(self) -> int:
        """Count every request in flight as lost now (interrupted, or the session is gone); returns how many."""
        self.stop()
        count = len(self._pending)
        for _ in range(count):
            self._outcomes.lost()
        self._pending.clear()
        return count

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def waiting(self) -> int:
        return len(self._backlog)

    @property
    def finished(self) -> bool:
        """Nothing in flight and nothing more to send (closed loop with a count, or stopped)."""
        return not self._pending and not self._backlog and (self._stopped or self._remaining == 0)


class Responder:
    """Answers its pair's requests (iq: a result with the tag; message: a XEP-0461 reply) from a filter.

    A request is answered as ``respond`` answers it: one payload element, a
    valid tag (else ``bad-request``); messages that are errors, headlines,
    replies themselves or our own are not answered. ``stall(until)`` holds
    every answer until then (a frozen peer, for measuring what it does to the
    percentiles), at most ``MAX_HELD_ANSWERS``. With ``payload_tag`` (a user's
    payload, ``load --raw``): an iq get or set carrying that element gets an
    empty result, whatever is in it.
    """

    def __init__(self, client: slixmpp.ClientXMPP, writer: SessionWriter, payload_tag: str | None = None) -> None:
        self._client = client
        self._own = client.boundjid.full
        self._writer = writer
        self._iq_tag = _tag(REPLY_STRING)
        self._request_tag = payload_tag or EXAMPLE_TAG
        self._checks_tag = payload_tag is None
        self._held: list[str] = []
        self._stalled_until = 0.0
        self.answered = 0
        self.unanswered = 0  # requests refused an answer: too long an id, or beyond the held answers
        take_first(client, self._answers)

    def stall(self, seconds: float) -> None:
        """Answer nothing for ``seconds`` (then everything held, at once)."""
        self._stalled_until = time.monotonic() + seconds
        self._client.loop.call_later(seconds, self._release)

    def _release(self) -> None:
        self._stalled_until = 0.0
        held, self._held = self._held, []
        for answer in held:
            self._writer.write(answer)

    def _answers(self, xml) -> bool:
        """Whether ``xml`` (a stanza received) is a request of our pair's: then it is answered (or held) here."""
        if xml.tag == IQ_TAG:
            if xml.get("type") not in ("get", "set") or xml.find(self._request_tag) is None:
                return False
            answer = self._iq_answer(xml)
        elif xml.tag == MESSAGE_TAG and self._checks_tag:
            if xml.find(EXAMPLE_TAG) is None:
                return False
            answer = self._message_answer(xml)
        else:
            return False
        if answer is None:
            self.unanswered += 1
        elif self._stalled_until and time.monotonic() < self._stalled_until:
            if len(self._held) < MAX_HELD_ANSWERS:
                self._held.append(answer)
            else:
                self.unanswered += 1
        else:
            self._writer.write(answer)
            self.answered += 1
        return True

    def _iq_answer(self, xml) -> str | None:
        request_id, requester = xml.get("id", ""), xml.get("from")
        if len(request_id) > MAX_ECHOED or (requester and len(requester) > MAX_ECHOED):
            return None
        to = f" to={quoteattr(requester)}" if requester else ""
        if not self._checks_tag:
            return f"<iq xmlns='jabber:client' type='result'{to} id={quoteattr(request_id)}/>"
        problem = request_payload_problem(xml) or ExampleTag(xml=xml.find(EXAMPLE_TAG)).validation_problem()
        if problem is not None:
            error = f"<error type='modify'><bad-request xmlns='{STANZA_ERRORS}'/></error>"
            return f"<iq xmlns='jabber:client' type='error'{to} id={quoteattr(request_id)}>{error}</iq>"
        return f"<iq xmlns='jabber:client' type='result'{to} id={quoteattr(request_id)}>{self._iq_tag}</iq>"

    def _message_answer(self, xml) -> str | None:
        author, request_id = xml.get("from"), xml.get("id")
        mtype = xml.get("type", "normal")
        if mtype in ("error", "headline", "groupchat") or xml.find(REPLY_TAG) is not None:
            return None  # not answered, as respond does not: but not counted as refused either
        if not author or author == self._own or not request_id:
            return None
        if len(request_id) > MAX_ECHOED or len(author) > MAX_ECHOED:
            return None
        to, named = quoteattr(author), quoteattr(request_id)
        return (
            f"<message xmlns='jabber:client' type={quoteattr(mtype)} to={to} id='{self._client.new_id()}'>"
            f"<body>{REPLY_STRING}</body>{self._iq_tag}<reply xmlns='{REPLY_NAMESPACE}' id={named} to={to}/>"
            "</message>"
        )


def take_first(client: slixmpp.ClientXMPP, takes: Callable[[Any], bool]) -> None:
    """Have ``takes`` see each stanza ``client`` receives before slixmpp does anything else with it.

    Before slixmpp even builds a stanza object for it
    (slixmpp_private.claim_before_stanzas): what ``takes`` takes costs no
    stanza object, filter chain or handler scan. With stream management,
    what it takes (an iq or a message: a stanza XEP-0198 counts) is counted
    as handled there, as slixmpp's counting filter would have counted it, so
    the ``h`` of the next ``<a/>`` is the same.
    """
    if slixmpp_private.SM_PLUGIN in client.plugin:
        state = slixmpp_private.StreamManagementState(client.plugin[slixmpp_private.SM_PLUGIN])

        def take_counted(xml) -> bool:
            if not takes(xml):
                return False
            state.count_in(MAX_SEQ)
            return True

        slixmpp_private.claim_before_stanzas(client, take_counted)
    else:
        slixmpp_private.claim_before_stanzas(client, takes)


@functools.lru_cache(maxsize=4)
def payload_tag(payload: str | None) -> str | None:
    """The tag (``{namespace}name``) of a serialised payload element (None for None); parsed once per process."""
    if payload is None:
        return None
    return ET.fromstring(payload).tag  # the parent's own serialisation of a payload it checked


@functools.lru_cache(maxsize=4)
def _raw_suffix(payload: str) -> str:
    """The end of every request carrying ``payload``: one string per process, shared by every sender (a
    payload may be tens of KiB, and a worker has thousands of senders)."""
    return f"'>{payload}</iq>"


def _condition(xml) -> str:
    """The defined condition of an error stanza (bounded; 'undefined-condition' without one)."""
    error = xml.find(ERROR_TAG)
    if error is not None:
        for child in error:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag.startswith(f"{{{STANZA_ERRORS}}}") and not tag.endswith("}text"):
                return tag.rpartition("}")[2][:64]
    return "undefined-condition"
