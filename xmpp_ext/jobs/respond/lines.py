"""How the responder's records are shown: one line each, at most 20 exchange lines a second unless -v.

A burst of 20,000 requests would otherwise print 20,000 lines, costing the
responder (and the terminal) more than answering them: past the budget,
lines are counted by kind and summed up once a second. Every string that
came from the network is made safe for the terminal here, when a line is
built, and only then.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from xmpp_ext.jobs.respond.records import (
    Answered,
    Disconnected,
    Finished,
    Ignored,
    Ready,
    Received,
    Reconnected,
    ReconnectFailed,
    Record,
    Resumed,
)
from xmpp_ext.util.display import printable

#: Exchange lines ``respond`` prints per second without -v; the others are summed up in one line a second.
LINES_PER_SECOND = 20
#: Characters of a received tag -v shows (attributes and text), escaped for the terminal.
MAX_SHOWN_RECEIVED = 200


class LineBudget:
    """At most ``per_second`` lines in any second; the others counted by kind and summed up once a second."""

    def __init__(
        self, echo: Callable[[str], None], loop: asyncio.AbstractEventLoop, per_second: int = LINES_PER_SECOND
    ) -> None:
        self._echo = echo
        self._loop = loop
        self._per_second = per_second
        self._window_start = -math.inf
        self._shown = 0
        self._held: dict[str, int] = {}  # kind of line -> count; the kinds are few fixed phrases
        self._flushing: asyncio.TimerHandle | None = None

    def allow(self) -> bool:
        """Whether one more line may be printed now (if not, ``hold`` it)."""
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._shown = 0
        if self._shown < self._per_second:
            self._shown += 1
            return True
        return False

    def hold(self, kind: str) -> None:
        self._held[kind] = self._held.get(kind, 0) + 1
        if self._flushing is None:
            delay = max(0.0, self._window_start + 1.0 - time.monotonic())
            self._flushing = self._loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Print the summing-up line now, if any line was held."""
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        if self._held:
            held, self._held = self._held, {}
            parts = ", ".join(f"{count:,} {kind}" for kind, count in held.items())
            self._echo(f"... {sum(held.values()):,} more in the last second: {parts}")


class RespondLines:
    """Turns records into lines. ``verbose``: exchange lines (budgeted); ``every_line`` (-v): all of them,
    and what each request carried. READY, RESUMED and reconnections are always shown."""

    def __init__(
        self,
        echo: Callable[[str], None],
        loop: asyncio.AbstractEventLoop,
        verbose: bool = True,
        every_line: bool = False,
    ) -> None:
        self._echo = echo
        self._budget = LineBudget(echo, loop)
        self.verbose = verbose
        self.every_line = every_line

    def record(self, record: Record) -> None:
        match record:
            case Answered():
                self._answered(record)
            case Received(itype=itype, requester=requester, tag=tag) if self.every_line:
                self._echo(f"received iq {itype} from {printable(requester)}: {summarize_received(tag)}")
            case Ignored(requester=requester, why=why) if self.verbose:
                self._echo(f"message from {printable(requester)}: ignored ({why})")
            case Ready(jid=jid):
                self._echo(f"READY {jid}")
            case Resumed(jid=jid, after_s=after, resent=resent):
                self._echo(f"RESUMED {jid}{'' if after is None else f' after {after:.1f} s'}, {resent} re-sent")
            case Reconnected(after_s=after, why=why):
                self._echo(f"reconnected after {after:.1f}s" + (f" (not resumed: {printable(why)})" if why else ""))
            case Disconnected(cause=cause):
                self._echo(f"disconnected ({printable(cause)}); reconnecting")
            case ReconnectFailed(reason=reason, next_delay=delay):
                self._echo(f"reconnection failed ({printable(reason)}); reconnecting in {delay:g}s")
            case Finished(answered=answered, most_waiting=most_waiting, duplicates=duplicates):
                self._budget.flush()
                if self.verbose:
                    held = "" if most_waiting is None else f" (at most {most_waiting} waiting at once)"
                    twice = f"; {duplicates} duplicate(s) not answered twice" if duplicates else ""
                    self._echo(f"stopped after answering {answered}{held}{twice}")

    def _answered(self, answer: Answered) -> None:
        if not self.verbose:
            return
        what = f"{answer.kind} {answer.itype + ' ' if answer.itype else ''}"
        if not (self.every_line or self._budget.allow()):
            self._budget.hold(f"{what}{answer.outcome.value}")
            return
        how = answer.outcome.value
        if answer.reply_to is not None:
            how += f" to {printable(answer.reply_to)}"
        if answer.detail is not None:
            how += f" ({printable(answer.detail)})"
        self._echo(f"{what}from {printable(answer.requester)}: {how}")


def summarize_received(tag) -> str:
    """A received payload's name, attributes and text (example_tag's, or a --plugin's), for a line: bounded and
    safe for a terminal."""
    if tag is None:
        return "no payload"
    name = tag.tag.rpartition("}")[2] if isinstance(tag.tag, str) else "?"
    attributes = " ".join(f"{key}={value!r}" for key, value in sorted(tag.attrib.items()))
    text = f" text={tag.text!r}" if tag.text and tag.text.strip() else ""
    inner = f" +{len(tag)} inner" if len(tag) else ""
    described = f"{name} {attributes}{text}{inner}".replace(f"{name}  ", f"{name} ")
    if len(described) > MAX_SHOWN_RECEIVED:
        described = described[: MAX_SHOWN_RECEIVED - 1] + "…"
    return printable(described)
