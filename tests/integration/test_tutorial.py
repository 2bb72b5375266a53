"""docs/test-your-own-extension.md is a test: its files are the ones in examples/greeting, its commands pass.

Every block of the tutorial whose first line names a file of the example
(``# examples/greeting/...``) must appear in that file as written, and every
``xmppext`` or ``pytest`` command of its ``sh`` blocks is run in
examples/greeting, as a user would, with this virtualenv's programs first
on PATH, and must exit 0 and say it passed (the commands name their servers:
both).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "test-your-own-extension.md"
EXAMPLE = REPO / "examples" / "greeting"
#: Lines of the tutorial's sh blocks that set things up rather than test (not run here: the suite is set up).
SET_UP = ("sudo ", "pip ", "cd ", "git ", "python -m venv", "source ", "export ")
RUN = ("xmppext ", "pytest ")


def blocks(language: str | None = None) -> list[tuple[str, str]]:
    """(language, text) of every fenced block of the tutorial, of ``language`` if given."""
    found = re.findall(r"^```(\w*)\n(.*?)^```$", TUTORIAL.read_text(), re.DOTALL | re.MULTILINE)
    return [(lang, text) for lang, text in found if language is None or lang == language]


def commands() -> list[str]:
    lines = [line.strip() for _lang, text in blocks("sh") for line in text.splitlines() if line.strip()]
    unknown = [line for line in lines if not line.startswith(RUN + SET_UP + ("#",))]
    assert not unknown, f"tutorial commands this test neither runs nor knows as set-up: {unknown}"
    return [line for line in lines if line.startswith(RUN)]


def test_the_tutorials_code_is_the_examples_code():
    quoted = [(text.split("\n", 1)) for _lang, text in blocks() if text.startswith("# examples/greeting/")]
    assert len(quoted) >= 6
    for first_line, body in quoted:
        path = REPO / first_line.removeprefix("# ").strip()
        assert path.is_file(), f"the tutorial quotes {path}, which does not exist"
        assert body in path.read_text(), f"the tutorial's block for {path} is not in that file as written"


def test_the_example_has_its_plugin_bot_script_tests_and_ini():
    for name in ("greeting/__init__.py", "greeting/stanza.py", "greeting/plugin.py", "bot.py", "greeting.scs"):
        assert (EXAMPLE / name).is_file()
    assert {"test_greeting.py", "pytest.ini"} <= {path.name for path in EXAMPLE.iterdir()}


@pytest.mark.parametrize("command", commands())
def test_each_command_of_the_tutorial_passes(command):
    programs = str(Path(sys.executable).parent)
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("XMPPEXT_", "PYTEST_"))}
    env = {**clean, "PATH": f"{programs}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "100"}
    words = shlex.split(command, comments=True)
    if words[0] == "pytest":
        words += ["-p", "no:cacheprovider"]  # leave nothing behind in the example's directory
    result = subprocess.run(
        words, cwd=EXAMPLE, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    if words[:2] == ["xmppext", "run-pair"]:  # one exchange, answered by the bot
        assert "[sender] sent 1: 1 ok" in result.stdout, result.stdout
    elif words[:2] == ["xmppext", "load"]:  # every exchange answered by the plugin
        assert "exchanges: 400 ok, 0 failed, 0 lost" in result.stdout, result.stdout
    else:
        assert "passed" in result.stdout
