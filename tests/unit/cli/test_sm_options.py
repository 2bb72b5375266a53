"""The options this round adds to send and respond, parsed offline (nothing here reaches a server)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from xmpp_ext.cli import cli


@pytest.mark.parametrize("command", ["send", "respond"])
def test_stream_management_can_be_turned_off(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "--no-stream-management" in result.output


def test_respond_verbose_and_quiet_contradict_each_other():
    env = {"XMPPEXT_JID": "me@localhost", "XMPPEXT_PASSWORD": "pw-not-used"}
    result = CliRunner().invoke(cli, ["respond", "-v", "-q"], env=env)
    assert result.exit_code == 2
    assert "-v/--verbose and -q/--quiet contradict each other" in result.output
    assert "Traceback" not in result.output
