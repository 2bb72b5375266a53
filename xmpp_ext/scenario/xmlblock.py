"""One indented XML block of a script, parsed into elements that remember their line.

Not ElementTree's parser: a failed ``receives:`` points at the line of the
expected element that differs, so each element needs its source line, which
only expat's own callbacks give. The same callbacks refuse a DTD or an entity
declaration outright (a script is input like any other: no entity expansion,
no external fetches), and bound depth and element count.

Whitespace-only text (the script's indentation between elements) is dropped,
as Scansion does: otherwise it would be sent, and arrive as ``&#10;&#9;&#9;``.
Text with content keeps its surrounding whitespace; matching ignores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.parsers import expat

from slixmpp.xmlstream import ET

#: The namespace the ``scansion:`` prefix is bound to in every block.
SCANSION_NS = "https://matthewwild.co.uk/projects/scansion"
#: A block's stanzas are in the client namespace unless they say otherwise.
CLIENT_NS = "jabber:client"

MAX_DEPTH = 64
MAX_ELEMENTS = 10_000


class BlockError(Exception):
    """A block is not well-formed XML or is refused; ``line`` is 1-based within the block."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Parsed:
    stanzas: list[ET.Element]
    lines: dict[int, int]  # id(element) -> line in the block (1-based)


def parse_block(text: str) -> Parsed:
    """The top-level elements of ``text`` (several stanzas may follow each other)."""
    lines: dict[int, int] = {}
    stack: list[ET.Element] = []
    stanzas: list[ET.Element] = []
    count = 0
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(what: str) -> None:
        raise BlockError(f"{what} is not allowed in a script", parser.CurrentLineNumber)

    wrapper_open = False

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal count, wrapper_open
        if not wrapper_open:  # the wrapper itself is not a stanza: only what it contains is
            wrapper_open = True
            return
        count += 1
        if count > MAX_ELEMENTS:
            raise BlockError(f"more than {MAX_ELEMENTS} elements in one block", parser.CurrentLineNumber)
        if len(stack) >= MAX_DEPTH:
            raise BlockError(f"elements nested deeper than {MAX_DEPTH}", parser.CurrentLineNumber)
        element = ET.Element(_clark(name), {_clark(key): value for key, value in attributes.items()})
        lines[id(element)] = parser.CurrentLineNumber
        if stack:
            stack[-1].append(element)
        else:
            stanzas.append(element)
        stack.append(element)

    def end(_name: str) -> None:
        if stack:  # else: the wrapper's end
            stack.pop()

    def characters(data: str) -> None:
        if stack:
            element = stack[-1]
            if len(element):
                last = element[-1]
                last.tail = (last.tail or "") + data
            else:
                element.text = (element.text or "") + data
        elif data.strip():
            raise BlockError(f"text outside a stanza: {data.strip()[:40]!r}", parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = lambda *_args: refuse("a DTD (<!DOCTYPE>)")
    parser.EntityDeclHandler = lambda *_args: refuse("an entity declaration (<!ENTITY>)")
    parser.ProcessingInstructionHandler = lambda *_args: refuse("a processing instruction (<?...?>)")
    # expat itself rejects a DOCTYPE inside an element, but only as a syntax
    # error: name the real problem.
    declaration = re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE)
    if declaration:
        what = (
            "a DTD (<!DOCTYPE>)" if declaration.group(1).upper() == "DOCTYPE" else "an entity declaration (<!ENTITY>)"
        )
        raise BlockError(
            f"{what} is not allowed in a script",
            text.count("\n", 0, declaration.start()) + 1,
        )
    # The wrapper is on the block's first line, so expat's line numbers are the block's.
    opening = f'<scansion:block xmlns="{CLIENT_NS}" xmlns:scansion="{SCANSION_NS}">'
    wrapped = f"{opening}{text}\n</scansion:block>"
    try:
        parser.Parse(wrapped, True)
    except expat.ExpatError as exc:
        column = exc.offset - len(opening) if exc.lineno == 1 else exc.offset
        if exc.lineno > text.count("\n") + 1 and stack:  # unclosed: point at where it opened
            unclosed = stack[-1]
            raise BlockError(
                f"<{_local(unclosed.tag)}> is not closed by the end of the block", lines[id(unclosed)]
            ) from None
        raise BlockError(_describe(exc, text, column), exc.lineno) from None
    for stanza in stanzas:
        _drop_indentation(stanza)
    return Parsed(stanzas, lines)


def _drop_indentation(stanza: ET.Element) -> None:
    """Remove whitespace-only text and tails below ``stanza`` (its own tail is outside the stanza)."""
    for element in stanza.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        if element is not stanza and element.tail is not None and not element.tail.strip():
            element.tail = None


def _clark(name: str) -> str:
    """expat's "uri local" as ElementTree's "{uri}local"."""
    uri, _, local = name.rpartition(" ")
    return f"{{{uri}}}{local}" if uri else local


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _describe(exc: expat.ExpatError, text: str, column: int) -> str:
    message = expat.ErrorString(exc.code)
    if message == "unbound prefix":
        return "unbound prefix (an element or attribute prefix without an xmlns: declaration)"
    return f"malformed XML: {message} (column {column + 1})"
