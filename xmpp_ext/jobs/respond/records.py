"""What the responder did, as records for whoever shows it (``lines.py`` for the terminal).

Strings taken from the network (``requester``, ``detail`` of a refusal, a
message id) are kept as received: the display makes them safe, and only for
the lines it prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from slixmpp.xmlstream import ET


class Outcome(Enum):
    """How a request was answered (the fixed start of its line: lines held back are counted by it)."""

    RESULT = "answered result"
    FORBIDDEN = "refused with forbidden"
    BAD_REQUEST = "refused with bad-request"
    NOT_ANSWERED = "not answered"
    REPLIED = "answered with a reply"
    DUPLICATE = "not answered again"  # delivered again after a resumption: the first answer still arrives
    ERROR = "refused with an error"  # respond --plugin: an error the plugin chose (the condition in the detail)
    PLUGIN_FAILED = "the plugin failed"  # respond --plugin: a handler raised; internal-server-error was sent


@dataclass(frozen=True, slots=True)
class Answered:
    """One request answered (or refused, or left unanswered on purpose); counts toward --count."""

    kind: str  # "iq" or "message"
    itype: str  # "get"/"set" for an iq, "" for a message
    requester: str
    outcome: Outcome
    detail: str | None = None  # shown in parentheses
    reply_to: str | None = None  # the id a message reply names (XEP-0461)


@dataclass(frozen=True, slots=True)
class Received:
    """A request as it arrived (shown with -v only)."""

    itype: str
    requester: str
    tag: ET.Element | None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message left unanswered by rule (a headline, a sender not allowed); not counted."""

    requester: str
    why: str


@dataclass(frozen=True, slots=True)
class Ready:
    jid: str


@dataclass(frozen=True, slots=True)
class Resumed:
    jid: str
    after_s: float | None
    resent: int


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new session after a cut (READY follows); ``why``: why the stream was not resumed, if it could have been."""

    after_s: float
    why: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    cause: str


@dataclass(frozen=True, slots=True)
class ReconnectFailed:
    reason: str
    next_delay: float


@dataclass(frozen=True, slots=True)
class Finished:
    answered: int
    most_waiting: int | None  # with --delay: most answers waiting at once
    duplicates: int = 0  # requests delivered again after a resumption, not answered twice


Record = Answered | Received | Ignored | Ready | Resumed | Reconnected | Disconnected | ReconnectFailed | Finished
