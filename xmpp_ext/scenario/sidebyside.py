"""A failed ``receives:`` shown as text: expected and received stanza side by side, the difference marked.

Stanzas are pretty-printed one element per line (text inline, control and
bidirectional characters escaped as display.printable does), namespaces
declared only where they change, so the marked line (``>``) on each side is
the element where the first difference is. Long lines and long stanzas are
clipped: a hostile or chatty server must not flood the terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape

from slixmpp.xmlstream import ET

from xmpp_ext.scenario.matching import Difference, attribute_name, qualified
from xmpp_ext.scenario.xmlblock import CLIENT_NS
from xmpp_ext.util.display import clip, printable

COLUMN = 58  # characters of the expected side
RIGHT_COLUMN = 90  # the received side: its extra attributes (to, xml:lang) come first
MAX_LINES = 40  # per side
MAX_TEXT = 40  # characters of an element's text


def pretty(
    element: ET.Element, fill: Callable[[str], str] = str, mark: ET.Element | None = None
) -> tuple[list[str], int | None]:
    """``element`` as indented lines, and the index of the line that opens ``mark`` (None: not in it)."""
    lines: list[str] = []
    marked: list[int] = []

    def walk(node: ET.Element, parent_namespace: str, depth: int) -> None:
        if len(lines) >= MAX_LINES:
            return
        namespace, local = qualified(node.tag)
        attributes = [f'xmlns="{escape(namespace)}"'] if namespace != parent_namespace else []
        attributes += [
            f'{attribute_name(key)}="{escape(printable(fill(value)), {chr(34): "&quot;"})}"'
            for key, value in node.attrib.items()
        ]
        opening = "<" + " ".join([local, *attributes])
        text = clip(printable(fill((node.text or "").strip())), MAX_TEXT)
        if node is mark:
            marked.append(len(lines))
        indent = "  " * depth
        if not len(node):
            lines.append(f"{indent}{opening}>{escape(text)}</{local}>" if text else f"{indent}{opening}/>")
            return
        lines.append(f"{indent}{opening}>{escape(text)}")
        for child in node:
            walk(child, namespace, depth + 1)
        lines.append(f"{indent}</{local}>")

    walk(element, CLIENT_NS, 0)
    if len(lines) >= MAX_LINES:
        lines[MAX_LINES - 1 :] = ["  …"]
    return lines, (marked[0] if marked else None)


def side_by_side(
    left_title: str,
    left: tuple[list[str], int | None],
    right_title: str,
    right: tuple[list[str], int | None],
) -> list[str]:
    """Two pretty-printed stanzas in columns; ``>`` in the margin marks the differing element on each side."""
    left_lines, left_mark = left
    right_lines, right_mark = right
    rows = [f"  {left_title:<{COLUMN}} | {right_title}"]
    for index in range(max(len(left_lines), len(right_lines))):
        left_text = left_lines[index] if index < len(left_lines) else ""
        right_text = right_lines[index] if index < len(right_lines) else ""
        left_margin = ">" if index == left_mark else " "
        right_margin = ">" if index == right_mark else " "
        rows.append(
            f"{left_margin} {clip(left_text, COLUMN):<{COLUMN}} |{right_margin}{clip(right_text, RIGHT_COLUMN)}"
        )
    return rows


def mismatch(
    expected: ET.Element,
    received: ET.Element,
    difference: Difference,
    fill: Callable[[str], str],
    line_of: Callable[[ET.Element], int | None],
) -> list[str]:
    """The report of one mismatch: both stanzas side by side, then the first difference with its script line."""
    # The differing element's own line in the script, else its stanza's.
    where = (line_of(difference.expected) if difference.expected is not None else None) or line_of(expected)
    rows = side_by_side(
        f"expected (line {line_of(expected)})",
        pretty(expected, fill, difference.expected),
        "received",
        pretty(received, str, difference.received),
    )
    rows.append(f"  first difference, line {where}, {difference}")
    return rows
