"""``xmpp_server.environment_for(account)``: the password reaches a child, never pytest's reports."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

PASSWORD = "TopSecret-4f9a"
INNER = """
import subprocess
import sys

PASSWORD = "TopSecret" + "-4f9a"  # written so that the traceback's source line does not hold it whole


def test_a_child_gets_the_password(xmpp_server, xmpp_account):
    env = xmpp_server.environment_for(xmpp_account(password=PASSWORD))
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['XMPPEXT_PASSWORD'])"],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert child.stdout.strip() == env["XMPPEXT_PASSWORD"] == PASSWORD


def test_a_failing_comparison_does_not_show_it(xmpp_server, xmpp_account):
    env = xmpp_server.environment_for(xmpp_account(password=PASSWORD))
    assert env == {"XMPPEXT_PASSWORD": "guess"}
"""


def test_the_password_in_an_environment_is_masked_in_assertions_and_locals(pytester, monkeypatch):
    monkeypatch.delenv("XMPPEXT_TEST_SERVER", raising=False)
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--xmpp-server", "prosody", "--showlocals", "-vv", timeout=120
    )
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str() + result.stderr.str()
    assert PASSWORD not in output
    assert "'XMPPEXT_PASSWORD': '********'" in output
