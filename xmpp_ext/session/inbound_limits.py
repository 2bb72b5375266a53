"""Bounds on what a server can make a client hold before a stanza completes.

slixmpp 1.17 gives every byte it receives to an ElementTree ``XMLPullParser``
(``XMLStream.init_parser`` makes a new one for each stream: at connection,
after STARTTLS, after SASL) and reads the parser's start/end events in
``data_received``. A stanza reaches filters and handlers only once its end
tag has arrived; until then the parser keeps everything, and nothing bounds
it. What a hostile server made one client hold within the 10 s login time-out
(issue 26): endless whitespace after the stream header, 2.6 GB; an endless
``<a><a>...``, 1.6 GB from 20 MB received (each open element costs ~280
bytes); one huge ``<stream:features>``, 551 MB. Internal entities declared in
a DTD are expanded by expat too: 3 KB received became 1 MB of text.

``install_inbound_limits`` wraps each stream's parser in one that gives it
the received bytes in slices of ``SLICE_BYTES``, reads its events after each
slice, and ends the stream at the first slice that goes past a bound:

* ``max_pending_bytes``: bytes received since a top-level element (a stanza,
  ``<stream:features>``, a SASL answer) last completed, or since the stream
  began: the stream header, whitespace or text between stanzas, and an
  unfinished stanza all count. Checked per slice, so at most one slice more
  is ever held.
* ``max_elements``: elements of one top-level element before it completes.
* ``max_depth``: elements open at once inside it. Stanzas deeper than the
  depth guard's 32 levels still get its polite refusal (session/guard.py);
  only the far deeper ones end the stream.
* a DTD or comment before the stream header, which XMPP forbids (RFC 6120
  §11.1): refused before expat reads it, so no entity is ever declared.

The defaults let through every stanza a server with the usual 256 KiB
stanza size limit relays (so no peer can end our stream through such a
server: 256 KiB hold at most ~65,000 elements, or ~37,000 levels at 7 bytes
a level), and keep what a stream can hold to tens of megabytes (measured:
65,536 elements with attributes ~23 MB; 40,000 open levels ~11 MB).

Ending the stream: ``client.disconnect_reason`` becomes an
``InboundLimitExceeded`` naming the bound, and the connection is aborted;
slixmpp then reports ``disconnected`` with it, which the login
(session/login.py: a ConnectError, exit 3) and the jobs (a lost connection)
show.

The slixmpp parts this relies on (``XMLStream.init_parser`` setting
``self.parser``, ``data_received`` using only ``parser.feed`` and
``parser.read_events``, and ``disconnect_reason``) are reached through
session/slixmpp_private.py and checked by its ``missing()`` and by
tests/unit/session/test_inbound_limits.py, which fails when upstream changes
them; on a slixmpp the patches were not written for (session/patches.py),
``install_inbound_limits`` leaves the client alone and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import slixmpp

from xmpp_ext.session import patches, slixmpp_private

log = logging.getLogger(__name__)

#: Bytes given to the parser at a time: what it may build before the bounds are checked again.
SLICE_BYTES = 16 * 1024
_MARKUP_DECLARATION = b"<!"  # a DTD (<!DOCTYPE) or a comment (<!--)


@dataclass(frozen=True)
class InboundLimits:
    max_pending_bytes: int = 1024 * 1024
    max_elements: int = 65_536
    max_depth: int = 40_000

    def __post_init__(self) -> None:
        for name in ("max_pending_bytes", "max_elements", "max_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")


class InboundLimitExceeded(Exception):
    """Why the client ended a stream: the server went past one of its InboundLimits (one line)."""


def install_inbound_limits(client: Any, limits: InboundLimits = InboundLimits()) -> bool:
    """Bound what ``client`` (a slixmpp XMLStream) holds of each stream it receives; False on another slixmpp.

    Install before connecting: each stream's parser is wrapped as slixmpp creates it.
    """
    if not patches.supported():
        log.warning(
            "slixmpp %s is not a version xmpp_ext.session.inbound_limits was written for: what a server sends "
            "before a stanza completes is not bounded",
            slixmpp.__version__,
        )
        return False

    def end_stream(problem: str) -> None:
        log.info("ended the stream: %s", problem)
        slixmpp_private.end_stream(client, InboundLimitExceeded(f"{problem}; the stream was ended"))

    slixmpp_private.wrap_each_parser(client, lambda parser: BoundedParser(parser, limits, end_stream))
    return True


class BoundedParser:
    """An XMLPullParser's ``feed``/``read_events`` with InboundLimits; ``on_exceeded(problem)`` when one is passed.

    After that it takes nothing more: the parser and its partial tree are let go.
    """

    def __init__(self, parser: Any, limits: InboundLimits, on_exceeded: Callable[[str], None]) -> None:
        self._parser = parser
        self._limits = limits
        self._on_exceeded = on_exceeded
        # Events parsed and not yet read: a list read from ``_read`` on (an empty deque would cost 760 bytes a
        # stream, ten times an empty list; thousands of load sessions each keep one).
        self._events: list[tuple[str, Any] | None] = []
        self._read = 0
        self._depth = 0  # elements open, the stream's root included
        self._elements = 0  # elements of the top-level element being received
        self._pending = 0  # bytes since a top-level element last completed
        self._root_opened = False
        self._last_byte = b""  # of the previous slice, while the root is not open: "<" then "!" may be split

    def feed(self, data: bytes | str) -> None:
        if self._parser is None:
            return
        if isinstance(data, str):
            data = data.encode()
        for start in range(0, len(data), SLICE_BYTES):
            problem = self._take(data[start : start + SLICE_BYTES])
            if problem is not None:
                # What completed before still counts (slixmpp dispatches it as the connection closes); the partial
                # element goes with the parser.
                self._parser = None
                self._on_exceeded(problem)
                return

    def read_events(self) -> Iterator[tuple[str, Any]]:
        events = self._events
        while self._read < len(events):
            event = events[self._read]
            events[self._read] = None  # the element goes once read, not when the whole batch has been
            self._read += 1
            yield event  # type: ignore[misc]
        events.clear()
        self._read = 0

    def _take(self, piece: bytes) -> str | None:
        if not self._root_opened:
            previous, self._last_byte = self._last_byte, piece[-1:]
            mark = (previous + piece).find(_MARKUP_DECLARATION)
            if mark != -1:
                # Parse up to the "<!": if the stream header has not opened by then, it is in the prolog.
                cut = max(mark - len(previous), 0)
                problem = self._parse(piece[:cut])
                if problem is not None:
                    return problem
                if not self._root_opened:
                    return "the server sent a DTD or comment before its stream header, which XMPP forbids"
                piece = piece[cut:]
        return self._parse(piece)

    def _parse(self, piece: bytes) -> str | None:
        if not piece:
            return None
        self._pending += len(piece)
        self._parser.feed(piece)
        limits = self._limits
        for event, element in self._parser.read_events():
            self._events.append((event, element))
            if event == "start":
                self._depth += 1
                if self._depth == 1:
                    self._root_opened = True
                    continue
                self._elements += 1
                if self._elements > limits.max_elements:
                    return f"the server sent a stanza of more than {limits.max_elements:,} elements"
                if self._depth - 1 > limits.max_depth:
                    return f"the server sent a stanza nested deeper than {limits.max_depth:,} levels"
            else:
                self._depth -= 1
                if self._depth == 1:  # a top-level element completed
                    self._elements = 0
                    self._pending = 0
        if self._pending > limits.max_pending_bytes:
            return f"the server sent more than {limits.max_pending_bytes:,} bytes without completing a stanza"
        return None
