"""The start-up budget: what ``xmppext send --help`` and a one-shot send import, listed.

Most of a one-shot send is Python importing modules. A new import (a library
pulled in by a stray top-level import, a command's module loaded by another
command) fails here instead of quietly costing every run milliseconds. When
an import is wanted, add it to the budget on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xmpp_ext.servers import free_port

# Top-level packages (private C modules "_x" aside), as of slixmpp 1.17 and Python 3.11.
HELP_PACKAGES = set(
    """abc aiodns array ast asyncio atexit base64 binascii bisect builtins bz2 click codecs collections concurrent
    contextlib contextvars copy copyreg dataclasses datetime dis encodings enum errno fcntl fnmatch functools gc
    genericpath gettext hashlib heapq html importlib inspect io ipaddress itertools keyword linecache locale logging
    lzma marshal math ntpath opcode operator os pathlib platform posix posixpath pyexpat pygments random re reprlib
    select selectors shutil signal site slixmpp socket ssl stat string struct subprocess sys textwrap threading time
    token tokenize traceback types typing urllib uuid warnings weakref xml xmpp_ext zipimport zlib""".split()  # noqa: SIM905
)
SEND_PACKAGES = (HELP_PACKAGES - {"bz2", "lzma", "shutil", "zlib"}) | {"defusedxml", "difflib", "hmac", "stringprep"}
SEND_PACKAGES |= {"unicodedata"}
# Submodules included: today 285 for --help and 358 for a send (the session layer and the send job are small
# modules of ours); a little room for Python's own patch releases.
MAX_HELP_MODULES = 300
MAX_SEND_MODULES = 370

PROBE = """
import atexit, sys
def report():
    names = sorted(sys.modules)
    print("MODULES", len(names), " ".join(sorted({n.split(".")[0] for n in names if not n.startswith("_")})),
          file=sys.stderr)
atexit.register(report)
from xmpp_ext.startup import main
sys.argv = ["xmppext", *sys.argv[1:]]
main()
"""


def imported(*args: str) -> tuple[int, set[str]]:
    env = {**os.environ, "XMPPEXT_PASSWORD": "not-used"}
    probe = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, env=env)
    line = next(line for line in probe.stderr.splitlines() if line.startswith("MODULES "))
    _, count, *packages = line.split()
    return int(count), set(packages)


@pytest.mark.parametrize(
    ("args", "allowed", "most"),
    [
        (("send", "--help"), HELP_PACKAGES, MAX_HELP_MODULES),
        (
            (
                "send",
                "-j",
                "me@localhost",
                "--host",
                "127.0.0.1",
                "--port",
                str(free_port()),
                "-t",
                "peer@localhost/r",
                "--kind",
                "message",
                "--no-reply",
            ),
            SEND_PACKAGES,
            MAX_SEND_MODULES,
        ),
    ],
    ids=["send --help", "one-shot send"],
)
def test_imports_stay_within_the_budget(args, allowed, most):
    count, packages = imported(*args)
    assert "xmpp_ext" in packages and "slixmpp" in packages  # the probe itself is sound
    assert packages - allowed == set(), "new top-level imports"
    assert count <= most, f"{count} modules imported, budget {most}"


def test_other_commands_modules_are_not_imported_by_send():
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.replace('"MODULES", len(names)', '"MODULES", len(names), *names'),
            "send",
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = set(probe.stderr.split())
    assert "xmpp_ext.cli.send" in names
    assert not names & {"xmpp_ext.cli.run_pair", "xmpp_ext.cli.local_server", "xmpp_ext.jobs.pair", "xmpp_ext.servers"}
