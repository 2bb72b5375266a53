"""Commands' answers that need no server: missing files and keys, entry points, documented keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xmpp_ext.servers import SERVERS, ServerNotInstalled

XMPPEXT = [sys.executable, "-m", "xmpp_ext"]
ROOT = Path(__file__).resolve().parents[3]


def run_pair(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*XMPPEXT, "run-pair", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )


def test_missing_env_file(tmp_path):
    result = run_pair("--env-file", str(tmp_path / "absent.env"))
    assert result.returncode == 2
    assert "absent.env: no such file" in result.stderr
    assert "xmppext local-server writes one" in result.stderr  # a next step that works from a pip install


def test_missing_keys(tmp_path):
    path = tmp_path / ".env"
    path.write_text("SENDER_JID=a@localhost\nRESPONDER_JID=b@localhost\n")
    path.chmod(0o600)
    result = run_pair("--env-file", str(path))
    assert result.returncode == 2
    assert "missing XMPPEXT_SENDER_PASSWORD, XMPPEXT_RESPONDER_PASSWORD" in result.stderr  # old keys count


def test_module_entry_point_matches_console_script():
    result = subprocess.run([sys.executable, "-m", "xmpp_ext", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "run-pair" in result.stdout


def test_env_example_documents_every_key():
    from xmpp_ext.util.envfile import OPTIONAL_KEYS, REQUIRED_KEYS

    example = (ROOT / ".env.example").read_text()
    for key in REQUIRED_KEYS + OPTIONAL_KEYS:
        assert f"\n{key}=" in example
    assert ".env" in (ROOT / ".gitignore").read_text().split()


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_missing_server_program_is_a_clear_error(monkeypatch, tmp_path, kind):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServerNotInstalled, match=f"sudo apt-get install {kind} on Debian or Ubuntu"):
        SERVERS[kind]()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("xmppext disco fea", "plain,features"),
        ("xmppext run-pair --server e", "plain,ejabberd"),
        ("xmppext sc", "plain,scenario"),
    ],
)
def test_shell_completion(words, expected):
    env = {
        **os.environ,
        "_XMPPEXT_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    result = subprocess.run([*XMPPEXT], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == [expected]
