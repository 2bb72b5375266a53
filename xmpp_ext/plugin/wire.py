"""What a stanza costs on the wire, and error replies that stay small.

Limits apply to what is written, not to what the user typed: slixmpp writes
``"`` as ``&quot;`` (6 bytes for 1) and, with ``xmpp_ext.session.patches`` applied,
a newline as ``&#10;`` (5 bytes); a prefix declared in a file
(``<e:example_tag xmlns:e=...>``) is written as a default namespace instead.
``wire_size`` follows slixmpp 1.17's serializer (``slixmpp.xmlstream.tostring``)
step by step, without building the string and without recursion, so a tree
nested too deep for the serializer can still be measured.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from slixmpp.xmlstream import ET, ElementBase

# Not ``from slixmpp.xmlstream import tostring``: the package re-exports the
# function under the module's name.
_serializer = importlib.import_module("slixmpp.xmlstream.tostring")

XML_NAMESPACE = _serializer.XML_NS
IQ_TAG = "{jabber:client}iq"
#: slixmpp's own escape, kept before xmpp_ext.session.patches may replace it.
SLIXMPP_ESCAPE = _serializer.escape
_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "'": "&apos;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
CLIENT_NAMESPACE = "jabber:client"
STREAM_NAMESPACE = "http://etherx.jabber.org/streams"
#: A client stream's prefixes (slixmpp's XMLStream and BaseXMPP set these two).
CLIENT_NAMESPACE_MAP = {XML_NAMESPACE: "xml", STREAM_NAMESPACE: "stream"}

#: Default byte budget of an error reply that echoes the request's tag. The
#: echo only lets the requester recognise what was refused; 4 KiB holds any
#: reasonable set of attributes, keeps a flood of large invalid requests from
#: being answered with as many large errors, and stays far below the smallest
#: stanza limit of the servers we run (ejabberd: 64 KiB).
ECHO_BUDGET = 4 * 1024

#: Longest error text an error reply carries, in characters.
MAX_ERROR_TEXT = 300


def escape(text: str, use_cdata: bool = False) -> str:
    """slixmpp's ``tostring.escape``, with tab, newline and carriage return as character references."""
    if use_cdata:  # slixmpp's optional CDATA mode keeps its own escaping
        return SLIXMPP_ESCAPE(text, use_cdata)
    return text.translate(_ESCAPES)


def quoteattr(value: str) -> str:
    """``value`` as a double-quoted XML attribute value, whitespace kept as character references.

    Not xml.sax.saxutils.quoteattr: that module imports urllib.request (and with
    it http.client and email), a noticeable part of a one-shot send's start-up.
    """
    return f'"{value.translate(_ESCAPES)}"'


def wire_size(
    item: ElementBase | ET.Element,
    *,
    stream: Any = None,
    parent_namespace: str | None = None,
    patched: bool | None = None,
) -> int:
    """The number of bytes (UTF-8) slixmpp writes for ``item``, a stanza object or an ElementTree element.

    Measured as ``XMLStream.send`` writes a stanza: at top level, on
    ``stream`` (default: the stanza's own stream; without one, a client
    stream's defaults). Give ``parent_namespace`` to measure an element as
    it is written inside a parent of that namespace instead.

    ``patched``: True counts with ``xmpp_ext.session.patches``' escaping (tab,
    newline and CR as character references), False with slixmpp's own,
    None with whichever is installed now.

    Raises ValueError for what slixmpp cannot write at all: a comment or
    processing instruction in the tree, or text that is not valid UTF-8
    (a lone surrogate).
    """
    xml = item.xml if isinstance(item, ElementBase) else item
    if stream is None and isinstance(item, ElementBase):
        stream = getattr(item, "stream", None)
    if stream is not None:
        default_ns, stream_ns = stream.default_ns, stream.stream_ns
        namespace_map, use_cdata = stream.namespace_map, stream.use_cdata
    else:
        default_ns, stream_ns = CLIENT_NAMESPACE, STREAM_NAMESPACE
        namespace_map, use_cdata = CLIENT_NAMESPACE_MAP, False
    escape = _escape_function(patched, use_cdata)
    top_level = parent_namespace is None
    outer = default_ns if top_level else parent_namespace

    total = 0
    # Work items: ("open", element, enclosing namespace, top level, declared namespaces)
    # or ("close", bytes still to count, declared namespaces, namespaces to forget).
    work: list[tuple] = [("open", xml, outer, top_level, None)]
    while work:
        step = work.pop()
        if step[0] == "close":
            _, closing, namespaces, introduced = step
            total += closing
            if namespaces is not None:
                namespaces.difference_update(introduced)
            continue
        _, element, xmlns, is_top, namespaces = step
        if not isinstance(element.tag, str):
            raise ValueError("a comment or processing instruction: slixmpp cannot write it")
        tag_namespace, _, tag_name = element.tag[1:].partition("}") if "}" in element.tag else ("", "", element.tag)
        declaration = ""
        if (tag_namespace and is_top and tag_namespace not in (default_ns, xmlns, stream_ns)) or (
            not is_top and tag_namespace != xmlns
        ):
            declaration = f' xmlns="{tag_namespace}"'
        if mapped := namespace_map.get(tag_namespace):
            # slixmpp 1.17 applies the mapped prefix twice (two identical if-blocks); so do we.
            tag_name = f"{mapped}:{mapped}:{tag_name}"
            declaration = f' xmlns="{tag_namespace}"'
        total += _utf8(f"<{tag_name}{declaration}")

        introduced: set[str] = set()
        for key, value in element.attrib.items():
            value = escape(value)
            if "}" not in key:
                total += _utf8(f' {key}="{value}"')
                continue
            key_namespace, local = key.split("}")[0][1:], key.split("}")[1]
            if key_namespace == XML_NAMESPACE:
                total += _utf8(f' xml:{local}="{value}"')
            elif prefix := namespace_map.get(key_namespace):
                if namespaces is None:
                    namespaces = set()
                if key_namespace not in namespaces:
                    namespaces.add(key_namespace)
                    introduced.add(key_namespace)
                    total += _utf8(f' xmlns:{prefix}="{key_namespace}"')
                total += _utf8(f' {prefix}:{local}="{value}"')
            # any other namespaced attribute: slixmpp leaves it out

        tail = _utf8(escape(element.tail)) if element.tail else 0
        if len(element) or element.text:
            total += 1  # ">"
            if element.text:
                total += _utf8(escape(element.text))
            work.append(("close", _utf8(f"</{tag_name}>") + tail, namespaces, introduced))
            for child in reversed(element):
                work.append(("open", child, tag_namespace, False, namespaces))
        else:
            total += 3 + tail  # " />"
            if namespaces is not None:
                namespaces.difference_update(introduced)
    return total


def bounded_echo(
    reply: ElementBase, tag: ET.Element, budget: int = ECHO_BUDGET, *, patched: bool | None = None
) -> bool:
    """Put a copy of ``tag`` with its attributes only (no text, no children) first in ``reply``, if it fits.

    The echo stays only if the whole ``reply``, as written, is at most
    ``budget`` bytes; otherwise ``reply`` is left as it was (a bare error).
    Returns whether the echo was added. Build the rest of the reply first:
    the budget covers all of it.
    """
    echo = ET.Element(tag.tag, dict(tag.attrib))
    reply.xml.insert(0, echo)
    if wire_size(reply, patched=patched) <= budget:
        return True
    reply.xml.remove(echo)
    return False


def error_reply(request: ElementBase, condition: str, text: str, etype: str = "cancel") -> ElementBase:
    """A new error stanza answering ``request``, built from its id, from and to only.

    Not ``request.reply()``: that deep-copies the whole request first, which
    for a request nested a few hundred levels deep raises RecursionError
    inside the stream's data_received and drops the connection. ``text`` is
    cut to MAX_ERROR_TEXT characters: it may quote what the peer sent.
    """
    stream = request.stream
    reply = stream.Iq() if request.name == "iq" else type(request)(stream)
    reply["id"] = request.xml.get("id", "")
    sender, recipient = request.xml.get("from"), request.xml.get("to")
    if getattr(stream, "is_component", False):
        # A component speaks for a domain, so it says which address answers.
        if recipient:
            reply["from"] = recipient
        if sender:
            reply["to"] = sender
    elif sender:
        reply["to"] = sender  # a client's server fills in the client's own address
    reply["type"] = "error"
    reply["error"]["type"] = etype
    reply["error"]["condition"] = condition
    reply["error"]["text"] = text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"
    return reply


def _escape_function(patched: bool | None, use_cdata: bool) -> Callable[[str], str]:
    if patched is None:
        chosen = _serializer.escape  # whatever is installed now
    elif patched:
        chosen = escape
    else:
        chosen = SLIXMPP_ESCAPE  # slixmpp's own, even while the patch is installed
    return lambda text: chosen(text, use_cdata)


def _utf8(text: str) -> int:
    # Pure ASCII is the common case and needs no encoding to count.
    return len(text) if text.isascii() else len(text.encode("utf-8"))
