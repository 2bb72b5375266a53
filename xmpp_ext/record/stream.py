"""One direction of an XMPP stream read as it passes by: its header, then each top-level element whole.

The recording proxy forwards bytes unchanged; this only watches them. It is
expat in incremental mode with namespaces resolved (``{jabber:client}iq``, as
slixmpp's own elements are), refusing what XMPP forbids anyway (a DTD, entity
declarations, processing instructions) and bounding what one hostile peer
can make it hold: the depth of an element, the number of elements in one
stanza, and the bytes of one stanza still open.

A stream restarts after STARTTLS and after SASL success: a new document
begins on the same connection (with a new ``<?xml?>`` declaration), which
one expat parser cannot read, so the caller ``restart()``s the observer there.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.parsers import expat

from slixmpp.xmlstream import ET

STREAM_NS = "http://etherx.jabber.org/streams"
STREAM_TAG = f"{{{STREAM_NS}}}stream"

MAX_DEPTH = 64  # levels below the stream element
MAX_ELEMENTS = 10_000  # elements in one stanza
MAX_STANZA_BYTES = 1024 * 1024  # more than either local server accepts (Prosody: 256 KiB)


class StreamUnreadable(Exception):
    """The bytes are not an XMPP stream this observer will read (malformed, refused, or over a bound)."""


@dataclass(frozen=True)
class Opened:
    """A stream header: ``<stream:stream ...>`` and its attributes."""

    attributes: dict[str, str]


@dataclass(frozen=True)
class Element:
    """A complete top-level element (a stanza, or a negotiation element such as ``<starttls/>``)."""

    element: ET.Element


@dataclass(frozen=True)
class Closed:
    """``</stream:stream>``."""


Event = Opened | Element | Closed


class StreamObserver:
    """``feed(bytes)`` returns the events those bytes complete, in order; StreamUnreadable when it cannot go on."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._stack: list[ET.Element] = []
        self._count = 0
        self._stanza_start = 0  # byte offset in the current document where the open stanza began
        self._fed = 0  # bytes fed to the current document
        self._parser = self._new_parser()

    @property
    def inside_element(self) -> bool:
        """Whether the bytes fed so far end inside a top-level element (its end is still to come)."""
        return bool(self._stack)

    def restart(self) -> None:
        """A new document starts with the next byte (after STARTTLS or SASL success)."""
        self._stack.clear()
        self._count = 0
        self._fed = 0
        self._parser = self._new_parser()

    def feed(self, data: bytes) -> list[Event]:
        self._events = []
        self._fed += len(data)
        try:
            self._parser.Parse(data, False)
        except expat.ExpatError as exc:
            raise StreamUnreadable(f"malformed XML: {expat.ErrorString(exc.code)}") from None
        if self._stack and self._fed - self._stanza_start > MAX_STANZA_BYTES:
            raise StreamUnreadable(f"a stanza larger than {MAX_STANZA_BYTES} bytes")
        return self._events

    # -- expat callbacks -----------------------------------------------------------

    def _new_parser(self) -> expat.XMLParserType:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.ProcessingInstructionHandler = self._refuse
        self._depth = 0  # 0: outside the stream element, 1: inside it
        return parser

    def _refuse(self, *_args: object) -> None:
        raise StreamUnreadable("a DTD, entity declaration or processing instruction (XMPP forbids them)")

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        tag = _clark(name)
        attrib = {_clark(key): value for key, value in attributes.items()}
        if self._depth == 0:
            if tag != STREAM_TAG:
                raise StreamUnreadable(f"expected a stream header, got <{tag.rpartition('}')[2]}>")
            self._depth = 1
            self._events.append(Opened(attrib))
            return
        if not self._stack:
            self._count = 0
            self._stanza_start = self._parser.CurrentByteIndex
        self._count += 1
        if self._count > MAX_ELEMENTS:
            raise StreamUnreadable(f"more than {MAX_ELEMENTS} elements in one stanza")
        if len(self._stack) >= MAX_DEPTH:
            raise StreamUnreadable(f"elements nested deeper than {MAX_DEPTH}")
        element = ET.Element(tag, attrib)
        if self._stack:
            self._stack[-1].append(element)
        self._stack.append(element)

    def _end(self, _name: str) -> None:
        if not self._stack:
            self._depth = 0
            self._events.append(Closed())
            return
        element = self._stack.pop()
        if not self._stack:
            self._events.append(Element(element))

    def _characters(self, data: str) -> None:
        if not self._stack:
            return  # whitespace between stanzas (keepalives)
        element = self._stack[-1]
        if len(element):
            last = element[-1]
            last.tail = (last.tail or "") + data
        else:
            element.text = (element.text or "") + data


def _clark(name: str) -> str:
    """expat's "uri local" as ElementTree's "{uri}local"."""
    uri, _, local = name.rpartition(" ")
    return f"{{{uri}}}{local}" if uri else local
