"""Stanza classes of the example_tag extension.

The payload, carried in ``<message>`` and ``<iq>``::

    <example_tag xmlns="https://example.net/our_extension"
                 boolean="True" some_string="Another_string">
      Info_inside_tag
      <inside_tag first_field="1" secound_field="2"/>
    </example_tag>

Parsing and checking untrusted input is payload.py's job; these classes call it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from slixmpp.xmlstream import ET, ElementBase

from xmpp_ext.plugin.payload import (
    MAX_PAYLOAD_BYTES,
    ExampleTagError,
    check_payload_size,
    check_tree,
    check_xml_attributes,
    check_xml_name,
    check_xml_text,
    describe_tag,
    drop_comments_and_instructions,
    parse_boolean,
    parse_xml,
    read_payload_file,
)
from xmpp_ext.plugin.wire import wire_size

NAMESPACE = "https://example.net/our_extension"
#: The payload's qualified name, as ElementTree spells it.
EXAMPLE_TAG = f"{{{NAMESPACE}}}example_tag"


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
        self.setup_from_lxml(parse_xml(string, source="XML string"), source="XML string", max_bytes=max_bytes)

    def setup_from_file(self, path: str | os.PathLike[str], max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        """Replace the content with the ``<example_tag/>`` stored in the regular file at ``path``.

        A FIFO, directory or device is refused without being read (see ``payload.read_payload_file``).
        """
        name = os.fspath(path)
        data = read_payload_file(name, max_bytes)
        self.setup_from_lxml(parse_xml(data, source=name), source=name, max_bytes=max_bytes)

    def setup_from_lxml(self, lxml: ET.Element, source: str | None = None, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        """Replace the content with a copy of an ElementTree ``<example_tag/>`` element.

        The caller's element is copied, never moved or shared. ``source``
        (a file name, say) prefixes error messages.

        Comments and processing instructions in the tree are dropped, the
        text around them kept: XMPP forbids sending them (RFC 6120 §11.1),
        and the parser behind ``setup_from_string``/``setup_from_file``
        drops them too. Attributes in a namespace other than ``xml:`` are
        refused, wherever they are in the tree: slixmpp's serializer would
        silently leave them out of the stanza.

        ``max_bytes`` bounds the tag as written on the wire, escaping
        included (with ``xmpp_ext.session.patches``' escaping, the larger count):
        64 KiB of ``"`` grows to 384 KiB there.
        """
        prefix = f"{source}: " if source else ""
        expected = f"{{{NAMESPACE}}}{self.name}"
        if not isinstance(getattr(lxml, "tag", None), str):
            raise ExampleTagError(f"{prefix}expected an XML element, got {type(lxml).__name__}")
        if lxml.tag != expected:
            raise ExampleTagError(
                f"{prefix}root element must be <example_tag xmlns='{NAMESPACE}'>, not {describe_tag(lxml.tag)}"
            )
        source = copy.deepcopy(lxml)
        drop_comments_and_instructions(source)
        try:
            parse_boolean(source.get("boolean"))
            check_tree(source)  # parsed XML always passes; an element built in code may not
            written = wire_size(source, parent_namespace="jabber:client", patched=True)
            check_payload_size(written, "as written on the wire", max_bytes)
        except ExampleTagError as exc:
            raise ExampleTagError(f"{prefix}{exc}") from None
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
