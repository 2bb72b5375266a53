"""Untrusted text made safe to print on a terminal.

A peer chooses its resource, message ids, error texts and attribute values.
Printed raw, control characters in them can move the cursor, rewrite earlier
lines (C0/C1 escape sequences, e.g. U+009B) or reverse what follows
(bidirectional overrides such as U+202E). Every such character is shown as
an escape instead; everything else is printed as it is.
"""

from __future__ import annotations

import re

# C0 (but tab), DEL, C1, and the Unicode bidirectional formatting characters.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` as a string with every terminal-unsafe character written as ``\\xNN`` or ``\\uNNNN``."""
    string = str(text)
    if not _UNSAFE.search(string):
        return string
    return _UNSAFE.sub(_escape, string)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
