"""The plugin's example test, read from the documentation the user copies it from."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_NAME = "test_example_tag_server.py"
CUT_EXAMPLE_NAME = "test_cut_mid_exchange.py"
SOURCES = (REPO / "README.md",)


def example_test() -> str:
    """The Python block whose first line is ``# test_example_tag_server.py``."""
    return _block("python", EXAMPLE_NAME)


def cut_example_test() -> str:
    """The Python block whose first line is ``# test_cut_mid_exchange.py``: the fault proxy fixture's example."""
    return _block("python", CUT_EXAMPLE_NAME)


def example_ini() -> str:
    """The ini block whose first line is ``# pytest.ini``."""
    return _block("ini", "pytest.ini")


def _block(language: str, name: str) -> str:
    for source in SOURCES:
        text = source.read_text() if source.is_file() else ""
        for block in re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL):
            if block.startswith(f"# {name}\n"):
                return block
    raise AssertionError(f"no {language} block starting '# {name}' in {', '.join(map(str, SOURCES))}")
