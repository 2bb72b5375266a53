"""Untrusted input that may become an ``<example_tag/>``: parsing and checks.

Everything here runs before any stanza object is touched, so the stanza
classes (stanza.py) can assume their input is already well-formed, small
enough and carryable. User-supplied XML (strings and files) is parsed with
defusedxml and refused when it declares a DTD or entities: RFC 6120 section
11.1 forbids both in XMPP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET
from slixmpp.xmlstream import ET

#: Largest XML file ``setup_from_file`` accepts. Servers cap stanza size
#: (ejabberd's default is 64 KiB, Prosody's 256 KiB); a payload above the
#: smaller one would be refused on the wire, so it is refused here first.
MAX_PAYLOAD_BYTES = 64 * 1024

# XML 1.0 Char (section 2.2): what an attribute value or text may hold at all.
# Anything else (most C0 controls, lone surrogates, U+FFFE/U+FFFF) would make
# the stanza not well-formed, and the server would close the whole stream.
# Spelled as the few excluded ranges: the complement, with its huge ranges, takes milliseconds to compile.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# An XML name without a colon (an NCName), close enough: a letter or _, then letters, digits, _ . -
_XML_NAME = re.compile(r"[^\W\d][\w.\-]*\Z")

_TRUE_WORDS = frozenset({"true", "1"})
_FALSE_WORDS = frozenset({"false", "0"})


class ExampleTagError(ValueError):
    """Input that cannot become an ``<example_tag/>``: the message says why."""


def check_xml_text(value: str, what: str = "value") -> str:
    """``value`` unchanged if XML can carry it (as text or an attribute value); else ExampleTagError."""
    bad = _NOT_XML_CHAR.search(value)
    if bad:
        raise ExampleTagError(f"{what} contains U+{ord(bad.group()):04X}, a character XML cannot carry")
    return value


def check_xml_name(name: str, what: str = "name") -> str:
    """``name`` unchanged if it is a valid element or attribute name (no prefix); else ExampleTagError."""
    if not _XML_NAME.match(name):
        raise ExampleTagError(f"{what} {name!r} is not an XML name (a letter or _, then letters, digits, _ . -)")
    return name


def check_xml_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """``attributes`` as strings if every name is an XML name and every value XML can carry; else ExampleTagError."""
    return {
        check_xml_name(str(key), "attribute name"): check_xml_text(str(value), f"attribute {key}")
        for key, value in attributes.items()
    }


def check_tree(element: ET.Element) -> None:
    """ExampleTagError if any name, attribute or text in ``element``'s tree cannot go on the wire.

    Parsed XML always passes; an element built in code may not.
    """
    for node in element.iter():
        if isinstance(node.tag, str):  # comments and processing instructions have no name to check
            check_xml_name(node.tag.rpartition("}")[2], "element name")
        for key, value in node.attrib.items():
            check_xml_name(key.rpartition("}")[2], "attribute name")
            check_xml_text(value, f"attribute {key}")
        for text in (node.text, node.tail):
            if text:
                check_xml_text(text, "text")


def check_payload_size(size: int, what: str, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
    """ExampleTagError if a payload of ``size`` bytes is larger than servers accept in a stanza."""
    if size > max_bytes:
        raise ExampleTagError(f"{what}: {size} bytes, more than {max_bytes}, the stanza size servers accept")


def parse_boolean(value: str | None) -> bool | None:
    """Read an xs:boolean attribute, accepting the tutorial's ``True``/``False``.

    Returns None when absent; raises ExampleTagError for anything else.
    """
    if value is None:
        return None
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ExampleTagError(f"boolean must be true or false, not {value!r}")


def parse_xml(data: str | bytes, source: str = "XML") -> ET.Element:
    """Parse untrusted XML into an element, refusing DTDs and entities."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise ExampleTagError(f"{source}: DTDs are not allowed in XMPP (RFC 6120 §11.1)") from None
    except defusedxml.EntitiesForbidden:
        raise ExampleTagError(f"{source}: entity declarations are not allowed in XMPP (RFC 6120 §11.1)") from None
    except defusedxml.DefusedXmlException as exc:
        raise ExampleTagError(f"{source}: forbidden XML construct ({exc})") from None
    except ET.ParseError as exc:
        raise ExampleTagError(f"{source}: not well-formed XML ({exc})") from None


def describe_tag(tag: str) -> str:
    """An ElementTree ``{namespace}local`` tag as a reader would write it: ``<local xmlns='namespace'>``."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return f"<{local} xmlns='{namespace}'>"
    return f"<{tag}> without namespace"
