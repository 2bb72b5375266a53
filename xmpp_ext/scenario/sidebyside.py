"""A failed ``receives:`` shown as text: expected and received stanza side by side, the difference marked.

Stanzas are pretty-printed one element per line (text inline, control and
bidirectional characters escaped as display.printable does), namespaces
declared only where they change, so the marked line (``>``) on each side is
the element where the first difference is. The report is laid out for a
width when it is printed: each side gets half of it, and a line longer than
its column is wrapped, never clipped, so the difference is always in view
(below ``MIN_COLUMN`` characters a side, the two stanzas are shown one above
the other). A hostile or chatty server must still not flood the terminal:
a side shows at most ``MAX_LINES`` elements, an element's text at most
``MAX_TEXT`` characters and a line at most ``MAX_ROWS_PER_LINE`` rows.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from slixmpp.xmlstream import ET

from xmpp_ext.scenario.matching import Difference, attribute_name, qualified
from xmpp_ext.scenario.xmlblock import CLIENT_NS
from xmpp_ext.util.display import clip, printable

MAX_LINES = 40  # per side
MAX_TEXT = 400  # characters of an element's text
MAX_ROWS_PER_LINE = 8  # rows one wrapped line may take
MIN_COLUMN = 30  # narrower than this, the sides go one above the other
DEFAULT_WIDTH = 100  # when the width of the output is not known (not a terminal, no COLUMNS)
#: The width of reports that are not printed on a terminal (JSON, JUnit): wide enough for most stanzas.
FILE_WIDTH = 160
CONTINUATION = "    "  # what a wrapped line's later rows are indented by, beyond the line's own indentation


def terminal_width() -> int:
    """The width of the terminal output goes to (``COLUMNS`` first), else DEFAULT_WIDTH."""
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


Pretty = tuple[list[str], int | None]  # lines, and the index of the marked one


@dataclass(frozen=True)
class SideBySide:
    """Two stanzas to show in columns, each with its title and its marked line, and a line below them."""

    left_title: str
    left: Pretty
    right_title: str
    right: Pretty
    footer: str = ""

    def lines(self, width: int) -> list[str]:
        """The report laid out in ``width`` columns (at least 20)."""
        width = max(width, 20)
        left_width = (width - 5) // 2  # "> " left " |" ">" right
        right_width = width - 5 - left_width
        if left_width < MIN_COLUMN:
            rows = _stacked(self.left_title, self.left, width) + _stacked(self.right_title, self.right, width)
        else:
            rows = [f"  {self.left_title:<{left_width}} | {self.right_title}"]
            rows += _columns(self.left, left_width, self.right, right_width)
        if self.footer:
            rows += _wrapped(f"  {self.footer}", width)
        return rows


@dataclass(frozen=True)
class Listing:
    """Stanzas shown one after the other under a title (what arrived when nothing should have)."""

    title: str
    body: list[str]

    def lines(self, width: int) -> list[str]:
        return [f"  {self.title}"] + [row for line in self.body for row in _wrapped(f"  {line}", max(width, 20))]


Report = SideBySide | Listing


def pretty(element: ET.Element, fill: Callable[[str], str] = str, mark: ET.Element | None = None) -> Pretty:
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


def mismatch(
    expected: ET.Element,
    received: ET.Element,
    difference: Difference,
    fill: Callable[[str], str],
    line_of: Callable[[ET.Element], int | None],
) -> SideBySide:
    """The report of one mismatch: both stanzas side by side, then the first difference with its script line."""
    # The differing element's own line in the script, else its stanza's.
    where = (line_of(difference.expected) if difference.expected is not None else None) or line_of(expected)
    return SideBySide(
        f"expected (line {line_of(expected)})",
        pretty(expected, fill, difference.expected),
        "received",
        pretty(received, str, difference.received),
        f"first difference, line {where}, {difference}",
    )


def _columns(left: Pretty, left_width: int, right: Pretty, right_width: int) -> list[str]:
    """Line by line, each side wrapped to its column; ``>`` in the margin marks the differing element's line."""
    (left_lines, left_mark), (right_lines, right_mark) = left, right
    rows = []
    for index in range(max(len(left_lines), len(right_lines))):
        left_rows = _wrapped(left_lines[index], left_width) if index < len(left_lines) else []
        right_rows = _wrapped(right_lines[index], right_width) if index < len(right_lines) else []
        for row in range(max(len(left_rows), len(right_rows))):
            left_margin = ">" if index == left_mark and row == 0 else " "
            right_margin = ">" if index == right_mark and row == 0 else " "
            left_text = left_rows[row] if row < len(left_rows) else ""
            right_text = right_rows[row] if row < len(right_rows) else ""
            rows.append(f"{left_margin} {left_text:<{left_width}} |{right_margin}{right_text}".rstrip())
    return rows


def _stacked(title: str, side: Pretty, width: int) -> list[str]:
    lines, mark = side
    rows = [f"  {title}:"]
    for index, line in enumerate(lines):
        for number, row in enumerate(_wrapped(line, width - 2)):
            rows.append(f"{'>' if index == mark and number == 0 else ' '} {row}")
    return rows


def _wrapped(line: str, width: int) -> list[str]:
    """``line`` in rows of at most ``width`` characters, broken between attributes where it can be."""
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    rows = textwrap.wrap(
        line,
        width,
        subsequent_indent=(indent + CONTINUATION)[: max(0, width - 10)],
        break_on_hyphens=False,
        drop_whitespace=True,
    )
    if len(rows) > MAX_ROWS_PER_LINE:
        rows = [*rows[: MAX_ROWS_PER_LINE - 1], clip(rows[MAX_ROWS_PER_LINE - 1], width - 1) + "…"]
    return rows
