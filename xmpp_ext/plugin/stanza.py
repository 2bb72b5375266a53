"""Stanza classes of the example_tag extension.

The payload, carried in ``<message>`` and ``<iq>``::

    <example_tag xmlns="https://example.net/our_extension"
                 boolean="True" some_string="Another_string">
      Info_inside_tag
      <inside_tag first_field="1" secound_field="2"/>
    </example_tag>

User-supplied XML (strings and files) is parsed with defusedxml and refused
when it declares a DTD or entities: RFC 6120 section 11.1 forbids both in XMPP.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET
from slixmpp.xmlstream import ET, ElementBase

NAMESPACE = "https://example.net/our_extension"
#: The payload's qualified name, as ElementTree spells it.
EXAMPLE_TAG = f"{{{NAMESPACE}}}example_tag"

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


class _TextInterface:
    """The element's own text as the ``text`` interface ("" when absent, removed when empty)."""

    xml: ET.Element

    def get_text(self) -> str:
        return self.xml.text or ""

    def set_text(self, text: str | None) -> None:
        self.xml.text = check_xml_text(text, "text") if text else None

    def del_text(self) -> None:
        self.xml.text = None


class InsideTag(_TextInterface, ElementBase):
    """An inner element of the extension: ``<inside_tag first_field="1" secound_field="2"/>``.

    Registered as an iterable sub-stanza of ExampleTag, so ``for inner in tag``
    yields InsideTag objects for received and built stanzas alike.
    """

    name = "inside_tag"
    namespace = NAMESPACE
    plugin_attrib = "inside_tag"
    plugin_multi_attrib = "inside_tags"
    # The field names (misspelling included) are the tutorial's wire format.
    interfaces = {"first_field", "secound_field", "text", "attributes"}

    def get_attributes(self) -> dict[str, str]:
        return dict(self.xml.attrib)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        checked = check_xml_attributes(attributes)
        self.xml.attrib.clear()
        self.xml.attrib.update(checked)


class ExampleTag(_TextInterface, ElementBase):
    """The ``<example_tag/>`` payload.

    Interfaces: ``boolean`` (read as True/False/None, written as the
    tutorial's ``"True"``/``"False"``), ``some_string`` and ``text``.
    The ``setup_from_*`` methods replace the whole content atomically: on
    bad input they raise ExampleTagError and leave the tag as it was.
    """

    name = "example_tag"
    namespace = NAMESPACE
    plugin_attrib = "example_tag"
    interfaces = {"boolean", "some_string", "text"}

    # -- tutorial API: setup from other representations -----------------------

    def setup_from_string(self, string: str | bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        """Replace the content with the ``<example_tag/>`` serialised in ``string``."""
        check_payload_size(len(string.encode() if isinstance(string, str) else string), "XML string", max_bytes)
        self.setup_from_lxml(parse_xml(string, source="XML string"), source="XML string")

    def setup_from_file(self, path: str | os.PathLike[str], max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        """Replace the content with the ``<example_tag/>`` stored in the file at ``path``."""
        name = os.fspath(path)
        try:
            with open(name, "rb") as handle:
                data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise ExampleTagError(f"{name}: cannot read file ({exc.strerror or exc})") from None
        if len(data) > max_bytes:
            raise ExampleTagError(f"{name}: file is larger than {max_bytes} bytes, the stanza size servers accept")
        self.setup_from_lxml(parse_xml(data, source=name), source=name)

    def setup_from_lxml(self, lxml: ET.Element, source: str | None = None) -> None:
        """Replace the content with a copy of an ElementTree ``<example_tag/>`` element.

        The caller's element is copied, never moved or shared. ``source``
        (a file name, say) prefixes error messages.
        """
        prefix = f"{source}: " if source else ""
        expected = f"{{{NAMESPACE}}}{self.name}"
        if not isinstance(getattr(lxml, "tag", None), str):
            raise ExampleTagError(f"{prefix}expected an XML element, got {type(lxml).__name__}")
        if lxml.tag != expected:
            raise ExampleTagError(
                f"{prefix}root element must be <example_tag xmlns='{NAMESPACE}'>, not {_describe(lxml.tag)}"
            )
        try:
            parse_boolean(lxml.get("boolean"))
            _check_tree(lxml)  # parsed XML always passes; an element built in code may not
        except ExampleTagError as exc:
            raise ExampleTagError(f"{prefix}{exc}") from None
        source = copy.deepcopy(lxml)
        self._clear_content()
        self.xml.attrib.update(source.attrib)
        self.xml.text = source.text
        for child in source:
            child.tail = None
            if child.tag == f"{{{NAMESPACE}}}{InsideTag.name}":
                self.append(InsideTag(xml=child))
            else:
                self.xml.append(child)

    def setup_from_dict(self, data: Mapping[str, Any]) -> None:
        """Replace the content from a mapping with the keys ``boolean``, ``some_string``, ``text``."""
        unknown = set(data) - self.interfaces
        if unknown:
            raise ExampleTagError(
                f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; expected {', '.join(sorted(self.interfaces))}"
            )
        boolean = data.get("boolean")
        if isinstance(boolean, str):
            boolean = parse_boolean(boolean)
        some_string, text = data.get("some_string"), data.get("text")
        for name, value in (("some_string", some_string), ("text", text)):
            if value is not None:  # checked before anything is cleared: the tag stays as it was
                check_xml_text(str(value), name)
        self._clear_content()
        self.fill_interfaces(boolean, some_string, text)

    def fill_interfaces(self, boolean: bool | None, some_string: str | None, text: str | None = None) -> None:
        """Set the two attributes and, when given, the text (the tutorial's signature)."""
        self.set_boolean(boolean)
        self.set_some_string(some_string)
        if text is not None:
            self.set_text(text)

    def add_inside_tag(self, tag: str, attributes: Mapping[str, Any], text: str = "") -> ElementBase | ET.Element:
        """Append an inner element in the extension's namespace and return it.

        ``inside_tag`` becomes an InsideTag stanza object; any other name a
        plain ElementTree element, as the tutorial's version built.
        """
        check_xml_name(tag, "inner tag name")
        if tag == InsideTag.name:
            inner = InsideTag()
            inner["attributes"] = attributes
            inner["text"] = text
            self.append(inner)
            return inner
        element = ET.Element(f"{{{NAMESPACE}}}{tag}", check_xml_attributes(attributes))
        element.text = check_xml_text(text, "text") if text else None
        self.xml.append(element)
        return element

    # -- accessors -----------------------------------------------------------

    def get_boolean(self) -> bool | None:
        try:
            return parse_boolean(self.xml.get("boolean"))
        except ExampleTagError:
            return None

    def set_boolean(self, boolean: bool | None) -> None:
        if boolean is None:
            self.xml.attrib.pop("boolean", None)
        else:
            self.xml.set("boolean", str(bool(boolean)))

    def del_boolean(self) -> None:
        self.xml.attrib.pop("boolean", None)

    def get_some_string(self) -> str | None:
        return self.xml.get("some_string")

    def set_some_string(self, some_string: str | None) -> None:
        if some_string is None:
            self.xml.attrib.pop("some_string", None)
        else:
            self.xml.set("some_string", check_xml_text(str(some_string), "some_string"))

    def del_some_string(self) -> None:
        self.xml.attrib.pop("some_string", None)

    def validation_problem(self) -> str | None:
        """Why a request carrying this tag must be refused, or None when it is valid."""
        if self.get_some_string() is None:
            return "example_tag needs a some_string attribute"
        try:
            parse_boolean(self.xml.get("boolean"))
        except ExampleTagError as exc:
            return str(exc)
        return None

    def _clear_content(self) -> None:
        self.xml.attrib.clear()
        self.xml.text = None
        for child in list(self.xml):
            self.xml.remove(child)
        self.iterables.clear()


def _check_tree(element: ET.Element) -> None:
    for node in element.iter():
        if isinstance(node.tag, str):  # comments and processing instructions have no name to check
            check_xml_name(node.tag.rpartition("}")[2], "element name")
        for key, value in node.attrib.items():
            check_xml_name(key.rpartition("}")[2], "attribute name")
            check_xml_text(value, f"attribute {key}")
        for text in (node.text, node.tail):
            if text:
                check_xml_text(text, "text")


def _describe(tag: str) -> str:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return f"<{local} xmlns='{namespace}'>"
    return f"<{tag}> without namespace"
