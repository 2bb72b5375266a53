"""Elements as the indented XML of a Scansion block, and values escaped so the script reads them back exactly.

The normaliser hands over elements whose attribute values and texts are
already in script syntax (escaped, possibly holding ``${...}`` and
``{scansion:...}``); this only lays them out. A block is parsed with
``jabber:client`` as the default namespace and the ``scansion:`` prefix bound
(scenario/xmlblock.py), so neither is declared here.
"""

from __future__ import annotations

from slixmpp.xmlstream import ET

from xmpp_ext.scenario.matching import XML_NS, qualified
from xmpp_ext.scenario.xmlblock import CLIENT_NS, SCANSION_NS

#: Attributes a reader looks for first on a stanza; the others follow in the order they came.
FIRST_ATTRIBUTES = ("type", "id", "from", "to")

_CHARACTER_REFERENCES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    # A block is one indented line per row: line breaks and tabs inside a value stay inside it as references.
    "\n": "&#10;",
    "\r": "&#13;",
    "\t": "&#9;",
    # The script parser reserves these two (its variable marks).
    "\ue000": "&#xE000;",
    "\ue001": "&#xE001;",
}


def escape(text: str) -> str:
    """``text`` as a literal attribute value or text in a script: nothing in it is read as markup or a variable."""
    escaped = "".join(_CHARACTER_REFERENCES.get(char, char) for char in text)
    # "${" would start a variable; "$&#123;" is the same text once parsed, and no variable.
    return escaped.replace("${", "$&#123;")


def block(stanzas: list[ET.Element], indent: str = "\t") -> list[str]:
    """The lines of a ``sends:``/``receives:`` block holding ``stanzas``."""
    lines: list[str] = []
    for stanza in stanzas:
        _lines(stanza, CLIENT_NS, indent, lines, top=True)
    return lines


def _lines(element: ET.Element, parent_namespace: str, indent: str, lines: list[str], top: bool = False) -> None:
    namespace, local = qualified(element.tag)
    opening = _opening(element, namespace, local, parent_namespace, top)
    text = element.text or ""
    children = list(element)
    mixed = children and (text.strip() or any((child.tail or "").strip() for child in children))
    if not children:
        lines.append(f"{indent}{opening}>{text}</{local}>" if text else f"{indent}{opening}/>")
    elif mixed:
        # Text beside children: one line, so the script adds no whitespace to what is sent.
        lines.append(indent + _inline(element, parent_namespace, top))
    else:
        lines.append(f"{indent}{opening}>")
        for child in children:
            _lines(child, namespace, indent + "\t", lines)
        lines.append(f"{indent}</{local}>")


def _inline(element: ET.Element, parent_namespace: str, top: bool = False) -> str:
    namespace, local = qualified(element.tag)
    inner = (element.text or "") + "".join(_inline(child, namespace) + (child.tail or "") for child in element)
    opening = _opening(element, namespace, local, parent_namespace, top)
    return f"{opening}>{inner}</{local}>" if inner else f"{opening}/>"


def _opening(element: ET.Element, namespace: str, local: str, parent_namespace: str, top: bool) -> str:
    parts = [f"<{local}"]
    if namespace != parent_namespace:
        parts.append(f'xmlns="{escape(namespace)}"')
    keys = list(element.attrib)
    if top:
        keys = [key for key in FIRST_ATTRIBUTES if key in element.attrib] + [
            key for key in keys if key not in FIRST_ATTRIBUTES
        ]
    declared: dict[str, str] = {}
    for key in keys:
        parts.append(f'{_attribute_name(key, declared, parts)}="{element.attrib[key]}"')
    return " ".join(parts)


def _attribute_name(key: str, declared: dict[str, str], parts: list[str]) -> str:
    namespace, local = qualified(key)
    if not namespace:
        return local
    if namespace == XML_NS:
        return f"xml:{local}"
    if namespace == SCANSION_NS:
        return f"scansion:{local}"
    if namespace not in declared:  # an extension's own attribute namespace: declared where it is used
        declared[namespace] = f"ns{len(declared) + 1}"
        parts.append(f'xmlns:{declared[namespace]}="{escape(namespace)}"')
    return f"{declared[namespace]}:{local}"
