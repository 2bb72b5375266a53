"""Untrusted text never reaches the terminal as control sequences."""

from __future__ import annotations

import pytest

from xmpp_ext.util.display import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, tabs\tstay", "plain text, tabs\tstay"),
        ("id\u202eevil", "id\\u202eevil"),
        ("csi\u009b2J", "csi\\x9b2J"),
        ("esc\x1b[2Jclear", "esc\\x1b[2Jclear"),
        ("new\nline", "new\\x0aline"),
        ("bidi\u2066isolate\u2069", "bidi\\u2066isolate\\u2069"),
        ("ünïcödé \U0001d49c", "ünïcödé \U0001d49c"),
    ],
)
def test_unsafe_characters_are_escaped(text, shown):
    assert printable(text) == shown
