"""Untrusted input: what may become an ``<example_tag/>``, and requests that arrive.

The stanza classes (stanza.py) call these checks before they change
anything, so a tag is never left half-built; the plugin calls
``request_payload_problem`` on every request it receives. User-supplied XML
(strings and files) is parsed with defusedxml and refused when it declares
a DTD or entities: RFC 6120 section 11.1 forbids both in XMPP.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.parsers import expat

import defusedxml
import defusedxml.ElementTree as SafeET
from slixmpp.xmlstream import ET

from xmpp_ext.util.files import NotARegularFile, read_regular_file

#: Largest payload the ``setup_from_*`` methods accept, as read and as written
#: on the wire (escaping included). Servers cap stanza size
#: (ejabberd's default is 64 KiB, Prosody's 256 KiB); a payload above the
#: smaller one would be refused on the wire, so it is refused here first.
MAX_PAYLOAD_BYTES = 64 * 1024

# XML 1.0 Char (section 2.2): what an attribute value or text may hold at all.
# Anything else (most C0 controls, lone surrogates, U+FFFE/U+FFFF) would make
# the stanza not well-formed, and the server would close the whole stream.
# Spelled as the few excluded ranges: the complement, with its huge ranges, takes milliseconds to compile.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# XML 1.0 fifth edition, section 2.3: NameStartChar and NameChar, without ":"
# (Namespaces in XML 1.0 section 3: an NCName). Python's \w is not this set:
# it takes µ, ª, ², Ⅻ, which the production refuses.
_NAME_START_CHARS = (
    "A-Z_a-z\xc0-\xd6\xd8-\xf6\xf8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d\u2070-\u218f"
    "\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NAME_CHARS = _NAME_START_CHARS + "\\-.0-9\xb7\u0300-\u036f\u203f\u2040"
_NCNAME = re.compile(f"[{_NAME_START_CHARS}][{_NAME_CHARS}]*")

#: ElementTree's namespace for ``xml:lang`` and friends, the one attribute namespace slixmpp always writes.
XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"

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
    """``name`` unchanged if it is a valid element or attribute name without prefix; else ExampleTagError.

    Valid means both: an NCName by the XML 1.0 fifth edition production
    (section 2.3, without ":"), and a name expat accepts. Prosody (LuaExpat)
    and ejabberd (fast_xml) parse with libexpat, which still applies the
    fourth edition's narrower name tables (Appendix B): a fifth-edition-only
    name such as ``Ⅻ`` (U+216B), U+1D49C or ``a‿b`` would make the server close the
    whole stream, so it is refused here.
    """
    if not _NCNAME.fullmatch(name):
        raise ExampleTagError(
            f"{what} {name!r} is not an XML name (XML 1.0 §2.3 NCName: a letter or _, then letters, digits, _ . - ·)"
        )
    if not _expat_accepts_name(name):
        raise ExampleTagError(
            f"{what} {name!r} is not an XML name servers accept (their parser, expat, keeps XML 1.0's "
            "fourth-edition name characters)"
        )
    return name


@functools.lru_cache(maxsize=1024)  # bounded: names come from untrusted input
def _expat_accepts_name(name: str) -> bool:
    # The name reaches here only after the NCName check, so it cannot break out of the tag.
    parser = expat.ParserCreate()
    try:
        parser.Parse(f"<{name}/>", True)
    except expat.ExpatError:
        return False
    return True


def check_xml_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """``attributes`` as strings if every name is an XML name and every value XML can carry; else ExampleTagError."""
    return {
        check_attribute_name(str(key)): check_xml_text(str(value), f"attribute {key}")
        for key, value in attributes.items()
    }


def check_attribute_name(name: str) -> str:
    """``name`` unchanged if it can be an attribute's name; else ExampleTagError.

    An XML name, and not ``xmlns``: written as an attribute it would declare
    a namespace, moving the element into it (or, beside the element's own
    declaration, make the stanza not well-formed).
    """
    if name == "xmlns":
        raise ExampleTagError("attribute name 'xmlns' is reserved for namespace declarations")
    return check_xml_name(name, "attribute name")


def check_tree(element: ET.Element) -> None:
    """ExampleTagError if any name, attribute or text in ``element``'s tree cannot go on the wire.

    Parsed XML always passes the name and text checks; an element built in
    code may not. Attributes in a namespace other than ``xml:`` are refused:
    slixmpp's serializer writes only those it has a prefix for, and would
    drop the others without a word.
    """
    for node in element.iter():
        if isinstance(node.tag, str):  # comments and processing instructions have no name to check
            check_xml_name(node.tag.rpartition("}")[2], "element name")
        for key, value in node.attrib.items():
            namespace, _, name = key[1:].rpartition("}") if key.startswith("{") else ("", "", key)
            if namespace and namespace != XML_NAMESPACE:
                raise ExampleTagError(
                    f"attribute {name!r} in namespace {namespace!r}: only unprefixed and xml: attributes can be sent"
                )
            check_attribute_name(name)
            check_xml_text(value, f"attribute {key}")
        for text in (node.text, node.tail):
            if text:
                check_xml_text(text, "text")


def drop_comments_and_instructions(element: ET.Element) -> None:
    """Remove every comment and processing instruction from ``element``'s tree, in place.

    The text that followed one (its tail) joins the text before it, as a
    parser that skips comments would have read it.
    """
    for parent in list(element.iter()):
        children = list(parent)
        if all(isinstance(child.tag, str) for child in children):
            continue
        kept: list[ET.Element] = []
        for child in children:
            if isinstance(child.tag, str):
                kept.append(child)
            elif child.tail and kept:
                kept[-1].tail = (kept[-1].tail or "") + child.tail
            elif child.tail:
                parent.text = (parent.text or "") + child.tail
        parent[:] = kept


def check_payload_size(size: int, what: str, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
    """ExampleTagError if a payload of ``size`` bytes is larger than servers accept in a stanza."""
    if size > max_bytes:
        raise ExampleTagError(f"{what}: {size} bytes, more than {max_bytes}, the stanza size servers accept")


def read_payload_file(path: str | os.PathLike[str], max_bytes: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes``; else ExampleTagError naming the file.

    Anything but a regular file is refused before it is read (util/files.py): a FIFO would
    block ``open()`` until a writer comes, a device may never end.
    """
    name = os.fspath(path)
    try:
        data = read_regular_file(name, max_bytes)
    except NotARegularFile as exc:
        raise ExampleTagError(str(exc)) from None
    except OSError as exc:
        raise ExampleTagError(f"{name}: cannot read file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise ExampleTagError(f"{name}: file is larger than {max_bytes} bytes, the stanza size servers accept")
    return data


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


def request_payload_problem(iq: ET.Element) -> str | None:
    """Why an iq get/set element does not carry exactly one payload (RFC 6120 §8.2.3), or None when it does.

    Names at most three of the children: the request may come from a hostile peer.
    """
    count = len(iq)
    if count == 1:
        return None
    shown = ", ".join(child.tag.rpartition("}")[2] if isinstance(child.tag, str) else "?" for child in iq[:3])
    more = ", ..." if count > 3 else ""
    return f"an iq get/set carries exactly one payload element (RFC 6120 §8.2.3), not {count} ({shown}{more})"


def describe_tag(tag: str) -> str:
    """An ElementTree ``{namespace}local`` tag as a reader would write it: ``<local xmlns='namespace'>``."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return f"<{local} xmlns='{namespace}'>"
    return f"<{tag}> without namespace"


def bundled_payload() -> Path:
    """The tutorial's test_example_tag.xml, shipped inside the package (installed as plain files).

    Found beside this module rather than through importlib.resources: a path is
    what the tag reads, and importing importlib.resources would cost a one-shot
    send more time than its whole TLS handshake.
    """
    return Path(__file__).resolve().parent.parent / "data" / "test_example_tag.xml"
