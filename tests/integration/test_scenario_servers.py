"""``xmppext scenario --local --server all``: the shipped scripts on both servers, and where the servers differ.

These start their own Prosody and ejabberd (that is what --local does), one
after the other, whatever XMPPEXT_TEST_SERVER says.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.processes import WAITING, scenario_process
from xmpp_ext.cli.scenario import command
from xmpp_ext.util.exitcodes import ExitCode

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# Prosody 0.12 answers a disco#info to the bare JID of a user one has no subscription to with
# service-unavailable (type cancel); ejabberd 23.01 with subscription-required (type auth).
DISCO_OF_A_STRANGER = """\
# disco#info of a user one is not subscribed to
[Client] Romeo
\tjid: romeo@localhost
\tpassword: Romeo-pw-1
[Client] Juliet
\tjid: juliet@localhost
\tpassword: Juliet-pw-1
-----
Romeo connects
Juliet connects
Romeo sends:
\t<iq type="get" id="disco1" to="${Juliet's JID}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>
Romeo receives:
\t<iq type="error" id="disco1" from="${Juliet's JID}"/>
Romeo disconnects
"""


def test_server_all_runs_the_shipped_scripts_on_both_and_shows_a_real_difference(tmp_path):
    disco = tmp_path / "disco_stranger.scs"
    disco.write_text(DISCO_OF_A_STRANGER)
    scripts = [SCENARIOS / "example_tag_exchanges.scs", SCENARIOS / "server_basics.scs", disco]
    result = CliRunner().invoke(
        command, [*map(str, scripts), "--local", "--server", "all", "--timeout", "10"], catch_exceptions=False
    )
    assert result.exit_code == ExitCode.OK, result.output
    lines = result.output.splitlines()
    for script in scripts:
        for server in ("prosody", "ejabberd"):
            assert any(line.startswith(f"PASSED {script} on {server}: ") for line in lines), result.output
    assert f"{scripts[0]}: prosody and ejabberd answered alike" in lines
    assert f"{disco}: prosody and ejabberd differ:" in lines
    difference = lines[lines.index(f"{disco}: prosody and ejabberd differ:") + 1]
    assert difference == (
        "  line 13 Romeo receives: ejabberd differs from prosody at iq/error: "
        "attribute type differs: expected 'cancel', received 'auth'"
    )
    basics = lines.index(f"{scripts[1]}: prosody and ejabberd differ:")
    assert any(
        "the stanzas came in another order: prosody <iq type='result'> then <iq type='set'>" in line
        for line in lines[basics:]
    )
    assert lines[-1] == "6 scripts: 6 passed, 0 failed"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_local_run_exits_130_and_stops_its_server(tmp_path, signum):
    script = tmp_path / "waits.scs"
    script.write_text(WAITING)
    with scenario_process(str(script), "--local", "--timeout", "60") as process:
        first = process.stdout.readline()  # printed once the server runs; the script then waits
        assert first.startswith("local prosody on 127.0.0.1:"), first
        port = int(first.split(":")[1].split(",")[0])
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, (stdout, stderr)
    assert stderr == "interrupted: the scripts that ran are not summarised\n"
    with pytest.raises(OSError):  # the server is gone with the run
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
