"""``xmppext scenario --responder CMD``: the program under test started, online, checked and stopped by the tool.

Each test starts its own local servers (that is what --local does), whatever
XMPPEXT_TEST_SERVER says; --server all runs on Prosody and on ejabberd.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.helpers import run as run_async
from tests.integration.processes import WAITING, processes_mentioning, scenario_process
from xmpp_ext.cli.scenario import command
from xmpp_ext.pytest_plugin import expect_stanza
from xmpp_ext.session import connected
from xmpp_ext.util.exitcodes import ExitCode

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BOT = Path(__file__).with_name("scenario_bot.py")
LIVE = REPO / "scenarios" / "live" / "live_responder.scs"

PINGS_THE_RESPONDER = """\
# Ping the program under test
[Client] Romeo
\tjid: romeo@localhost
\tpassword: ${env:XMPPEXT_SCENARIO_ROMEO_PASSWORD}
-----
Romeo connects
Romeo sends:
\t<iq type="get" id="p1" to="${env:XMPPEXT_SCENARIO_RESPONDER}"><ping xmlns="urn:xmpp:ping"/></iq>
Romeo receives:
\t<iq type="result" id="p1" from="${env:XMPPEXT_SCENARIO_RESPONDER}"/>
Romeo disconnects
"""


def bot(*switches: str) -> str:
    return shlex.join([sys.executable, str(BOT), *switches])


def run(*args: str, env: dict[str, str] | None = None):
    # A server named by the environment (a sourced .env) is not the one --local starts or --as reads.
    elsewhere = {"XMPPEXT_HOST": "192.0.2.1", "XMPPEXT_PORT": "1"}
    environment = {"XMPPEXT_SCENARIO_ROMEO_PASSWORD": "Romeo-pw-1", **elsewhere, **(env or {})}
    return CliRunner().invoke(command, list(args), env=environment, catch_exceptions=False)


@pytest.fixture
def ping_script(tmp_path) -> Path:
    path = tmp_path / "ping.scs"
    path.write_text(PINGS_THE_RESPONDER)
    return path


def test_xmppext_respond_as_the_responder_passes_the_live_script_on_both_servers():
    """The shipped live script, which needed a responder started by hand, runs with one the tool starts."""
    respond = shlex.join([sys.executable, "-m", "xmpp_ext", "respond"])
    result = run(str(LIVE), "--local", "--server", "all", "--timeout", "10", "--responder", respond)
    assert result.exit_code == ExitCode.OK, result.output
    lines = result.output.splitlines()
    for server in ("prosody", "ejabberd"):
        assert any(line.startswith(f"PASSED {LIVE} on {server}: ") for line in lines), result.output
    # The responder's JID differs per server and per run; the comparison names it instead.
    assert f"{LIVE}: prosody and ejabberd answered alike" in lines
    assert lines[-1] == "2 scripts: 2 passed, 0 failed"


@pytest.mark.parametrize(
    "switches", [("--no-ready",), ("--no-presence",)], ids=["online by its presence", "online by its READY line"]
)
def test_a_program_is_online_by_its_presence_or_its_ready_line(ping_script, tmp_path, switches):
    pid_file = tmp_path / "bot.pid"
    result = run(str(ping_script), "--local", "--responder", bot(*switches, "--pid-file", str(pid_file)))
    assert result.exit_code == ExitCode.OK, result.output
    assert f"PASSED {ping_script} on prosody: 4 steps" in result.output
    with pytest.raises(ProcessLookupError):  # stopped after the script
        os.kill(int(pid_file.read_text()), 0)


def test_a_program_that_exits_at_start_is_an_error_with_its_output(ping_script):
    result = run(str(ping_script), "--local", "--responder", bot("--exit-at-start"))
    assert result.exit_code == ExitCode.CONNECT, result.output
    assert (
        f"ERROR {ping_script} on prosody: line 2 start responder: {bot('--exit-at-start')} exited with status 4 "
        "before it was online; its last output: cannot start: a broken configuration"
    ) in result.output.splitlines()


def test_a_program_never_online_is_an_error_and_is_stopped(ping_script, tmp_path):
    pid_file = tmp_path / "bot.pid"
    command_line = bot("--no-ready", "--no-presence", "--pid-file", str(pid_file))
    result = run(str(ping_script), "--local", "--responder", command_line, "--responder-timeout", "3")
    assert result.exit_code == ExitCode.CONNECT, result.output
    assert f"{command_line} was not online within 3s (no available presence from responder-" in result.output
    assert "no READY line); its last output: (no output)" in result.output
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_program_that_dies_during_the_script_makes_the_run_an_error(ping_script):
    result = run(str(ping_script), "--local", "--responder", bot("--exit-after-ready"))
    assert result.exit_code == ExitCode.CONNECT, result.output
    assert f"{bot('--exit-after-ready')} exited with status 5 during the script" in result.output


def test_no_program_is_left_running_after_the_runs(ping_script):
    marker = f"--pid-file={ping_script.parent}/leftover"
    result = run(str(ping_script), "--local", "--server", "all", "--responder", bot(marker))
    assert result.exit_code == ExitCode.OK, result.output
    assert processes_mentioning(marker) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_the_program(tmp_path, signum):
    script = tmp_path / "waits.scs"
    script.write_text(WAITING)
    pid_file = tmp_path / "bot.pid"
    responder = bot("--pid-file", str(pid_file))
    with scenario_process(str(script), "--local", "--timeout", "60", "--responder", responder) as process:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)  # nothing to await: the program writes its pid file when it starts
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, (stdout, stderr)
    # The program is gone, as the suite checks "nothing left running" elsewhere: a process it stopped gets
    # processes_mentioning's moment to end (and an exited one, a zombie until reaped, has no command line).
    assert processes_mentioning(str(pid_file)) == []


def test_a_killed_xmppext_takes_the_program_with_it_even_one_ignoring_sigterm(tmp_path):
    script = tmp_path / "waits.scs"
    script.write_text(WAITING)
    pid_file = tmp_path / "bot.pid"
    responder = bot("--ignore-sigterm", "--pid-file", str(pid_file))
    with scenario_process(str(script), "--local", "--timeout", "60", "--responder", responder) as process:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)  # nothing to await: the program writes its pid file when it starts
        assert pid_file.exists(), "the program never started"
        process.kill()  # no grace period, no stop of ours: only the kernel's parent-death signal is left
        process.communicate(timeout=30)
    assert processes_mentioning(str(pid_file)) == []


PINGS_AS_THE_ENV_FILES_ACCOUNT = PINGS_THE_RESPONDER.replace(
    "\tjid: romeo@localhost\n\tpassword: ${env:XMPPEXT_SCENARIO_ROMEO_PASSWORD}\n",
    "\tjid: ${env:XMPPEXT_SCENARIO_JID}\n\tpassword: ${env:XMPPEXT_SCENARIO_PASSWORD}\n",
)


def test_as_runs_against_the_env_files_server_with_its_accounts(xmpp_server, xmpp_account, tmp_path):
    """A server someone else runs (here the suite's, as `xmppext local-server` would): the script's client logs
    in as the .env file's sender, the program under test as its responder."""
    from xmpp_ext.util.envfile import PairCredentials, write_env_file

    sender, responder = xmpp_account(), xmpp_account()
    env_file = tmp_path / "server.env"
    credentials = PairCredentials(
        sender.jid,
        sender.password,
        responder.jid,
        responder.password,
        xmpp_server.host,
        xmpp_server.port,
        xmpp_server.ca_cert.resolve(),
    )
    write_env_file(env_file, credentials)
    script = tmp_path / "ping.scs"
    script.write_text(PINGS_AS_THE_ENV_FILES_ACCOUNT)
    result = run(str(script), "--as", "sender", "--env-file", str(env_file), "--responder", bot())
    assert result.exit_code == ExitCode.OK, result.output
    assert f"PASSED {script} on {xmpp_server.host}:{xmpp_server.port}: 4 steps" in result.output


def test_a_resource_of_the_account_online_before_the_program_is_not_taken_for_it(
    xmpp_server, xmpp_account, responder, tmp_path
):
    """The .env file's responder account already runs a responder someone started: its presence is not the
    program's, which here never comes online."""
    from xmpp_ext.util.envfile import PairCredentials, write_env_file

    sender, account = xmpp_account(), xmpp_account()
    running = responder(account=account)  # `xmppext respond` on that account, online until the end

    async def its_presence_is_routed() -> None:
        # READY comes at session start: wait until the server routes its presence, as for one long online.
        async with connected(xmpp_server.settings_for(account, "sync"), plugins=()) as client:
            seen = expect_stanza(
                client, lambda stanza: stanza.name == "presence" and stanza["from"] == running.full_jid
            )
            client.send_presence(ppriority=-1)
            await seen

    run_async(its_presence_is_routed)
    env_file = tmp_path / "server.env"
    write_env_file(
        env_file,
        PairCredentials(
            sender.jid,
            sender.password,
            account.jid,
            account.password,
            xmpp_server.host,
            xmpp_server.port,
            xmpp_server.ca_cert.resolve(),
        ),
    )
    script = tmp_path / "ping.scs"
    script.write_text(PINGS_AS_THE_ENV_FILES_ACCOUNT)
    silent = bot("--no-ready", "--no-presence")
    result = run(
        str(script), "--as", "sender", "--env-file", str(env_file), "--responder", silent, "--responder-timeout", "3"
    )
    assert result.exit_code == ExitCode.CONNECT, result.output
    assert f"{silent} was not online within 3s" in result.output
