"""Refuse stanzas nested deeper than a limit, before any handler sees them.

What was measured with slixmpp 1.17 on CPython 3.11 (tests/unit/session/test_guard.py):

* Parsing and building the stanza object take any depth: expat feeds
  ElementTree's C tree builder, and slixmpp's stanza classes only walk the
  children they have plugins for. 100,000 levels arrive intact.
* ``copy.copy(stanza)``, and so ``stanza.reply()``, deep-copies the tree
  with one Python frame per level: in the receive path it raises
  RecursionError from about 490 levels (450 pass, 500 fail).
* The serializer (``tostring``, behind ``str(stanza)`` and the ``RECV:``
  debug line that ``recv_stanza`` logs) recurses once per level and fails
  near 970 levels; logging re-raises RecursionError, so with debug logging
  on, such a stanza drops the stream even when nobody answers it.

Both happen after slixmpp's incoming filters, which run right after the
stanza object is built and before that debug line and any handler. The
guard is such a filter: it measures the depth without recursion and stops
the stanza there. (``XMLStream.incoming_filter``, the hook before the
stanza is built, is not needed, and cannot drop a stanza cleanly.)

``DEFAULT_MAX_DEPTH`` is 32 levels, counting the stanza element as level 1.
The deepest stanzas of common XMPP use stay well under it (a MAM result
carrying a forwarded pubsub event with an Atom entry is about 12 levels),
and it stays far below the ~480 levels where slixmpp's recursion fails, so
handlers may recurse over what they receive.
"""

from __future__ import annotations

import logging
from typing import Any

from slixmpp import Iq
from slixmpp.xmlstream import ET, StanzaBase

from xmpp_ext.plugin.wire import error_reply

log = logging.getLogger(__name__)

DEFAULT_MAX_DEPTH = 32


def depth_exceeds(element: ET.Element, max_depth: int) -> bool:
    """Whether ``element``'s tree is more than ``max_depth`` levels deep (``element`` itself is level 1).

    Walks the tree with an explicit stack, never recursing, and stops at
    the first element past the limit.
    """
    stack = [(element, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in node)
    return False


class DepthGuard:
    """The incoming filter ``install_depth_guard`` adds; ``refused`` counts the stanzas it stopped."""

    def __init__(self, client: Any, max_depth: int) -> None:
        self.client = client
        self.max_depth = max_depth
        self.refused = 0

    def __call__(self, stanza: StanzaBase) -> StanzaBase | None:
        if not depth_exceeds(stanza.xml, self.max_depth):
            return stanza
        self.refused += 1
        sender = stanza.xml.get("from", "?")
        if isinstance(stanza, Iq) and stanza.xml.get("type") in ("get", "set"):
            log.warning(
                "refused an iq %s from %s nested deeper than %d elements",
                stanza.xml.get("type"),
                sender,
                self.max_depth,
            )
            error_reply(
                stanza,
                "bad-request",
                f"stanza nested deeper than {self.max_depth} elements; this entity accepts at most {self.max_depth}",
                etype="modify",
            ).send()
        else:
            log.warning("dropped a <%s> from %s nested deeper than %d elements", stanza.name, sender, self.max_depth)
        return None


def install_depth_guard(client: Any, max_depth: int = DEFAULT_MAX_DEPTH) -> DepthGuard:
    """Refuse every incoming stanza nested more than ``max_depth`` levels deep; returns the guard.

    An iq get/set gets exactly one ``bad-request`` error (type modify),
    built from its id, from and to without copying it; any other stanza
    (message, presence, iq result/error) is dropped with one log line: an
    iq result dropped this way leaves its request to time out. Stream
    management counts a refused stanza because its counter is the filter
    before this one (``xmpp_ext.session.build`` registers them in that order).
    """
    if max_depth < 2:
        raise ValueError(f"max_depth must be at least 2 (a stanza and its payload), not {max_depth}")
    guard = DepthGuard(client, max_depth)
    client.add_filter("in", guard)
    return guard
