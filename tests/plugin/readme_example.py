"""The plugin's example test, read from the documentation the user copies it from."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_NAME = "test_example_tag_server.py"
# README.md once the lead has folded the notes in; the notes until then.
SOURCES = (REPO / "README.md", REPO / "notes" / "pytest-plugin-readme.md")


def example_test() -> str:
    """The Python block whose first line is ``# test_example_tag_server.py``."""
    for source in SOURCES:
        text = source.read_text() if source.is_file() else ""
        for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL):
            if block.startswith(f"# {EXAMPLE_NAME}\n"):
                return block
    raise AssertionError(f"no python block starting '# {EXAMPLE_NAME}' in {', '.join(map(str, SOURCES))}")
