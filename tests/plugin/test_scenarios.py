"""``*.scs`` scripts collected as tests by the plugin (ini ``xmpp_scenarios``), run by pytest inside pytest.

Runs that start servers use a pytest subprocess: a server's certificates come from cryptography, whose
Rust core cannot be imported afresh in one process, as pytester's in-process runs would.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

ASYNCIO_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
SCENARIOS_INI = ASYNCIO_INI + "xmpp_scenarios = true\n"
BOT = Path(__file__).parents[1] / "integration" / "scenario_bot.py"

PASSES = """\
# Ping the server
## smoke
[Client] Romeo
\tjid: romeo@localhost
\tpassword: Romeo-pw-1
-----
Romeo connects
Romeo sends:
\t<iq type="get" id="p1" to="localhost">
\t\t<ping xmlns="urn:xmpp:ping"/>
\t</iq>
Romeo receives:
\t<iq type="result" id="p1" from="localhost"/>
Romeo disconnects
"""
FAILS = PASSES.replace('type="result" id="p1"', 'type="error" id="p1"')
PINGS_THE_RESPONDER = PASSES.replace('to="localhost"', 'to="${env:XMPPEXT_SCENARIO_RESPONDER}"').replace(
    'from="localhost"', 'from="${env:XMPPEXT_SCENARIO_RESPONDER}"'
)


@pytest.fixture(autouse=True)
def _inner_project(monkeypatch):
    for name in ("SERVER", "SCENARIOS", "SCENARIO_TIMEOUT", "SCENARIO_RESPONDER"):
        monkeypatch.delenv(f"XMPPEXT_TEST_{name}", raising=False)


def test_scripts_are_not_collected_unless_asked_for(pytester):
    pytester.makeini(ASYNCIO_INI)
    pytester.makefile(".scs", ping=PASSES)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_one_test_per_script_and_server_whatever_python_functions_says(pytester):
    pytester.makeini(SCENARIOS_INI + "python_functions = check_*\n")
    pytester.makefile(".scs", ping=PASSES)
    (pytester.path / "more").mkdir()
    (pytester.path / "more" / "second-one.scs").write_text(PASSES)
    result = pytester.runpytest("--xmpp-server", "all", "--collect-only", "-q")
    # In the order pytest runs them: grouped by server.
    result.stdout.fnmatch_lines_random(
        [
            "more/second-one.scs::second_one[[]ejabberd[]]",
            "more/second-one.scs::second_one[[]prosody[]]",
            "ping.scs::ping[[]ejabberd[]]",
            "ping.scs::ping[[]prosody[]]",
            "4 tests collected*",
        ]
    )


def test_the_command_line_or_the_environment_may_ask_for_them_too(pytester, monkeypatch):
    pytester.makeini(ASYNCIO_INI)
    pytester.makefile(".scs", ping=PASSES)
    pytester.runpytest("--xmpp-scenarios", "true", "--collect-only", "-q").stdout.fnmatch_lines(["1 test collected*"])
    monkeypatch.setenv("XMPPEXT_TEST_SCENARIOS", "true")
    pytester.runpytest("--collect-only", "-q").stdout.fnmatch_lines(["1 test collected*"])


def test_a_script_that_does_not_parse_is_a_collection_error_naming_its_line(pytester):
    pytester.makeini(SCENARIOS_INI)
    pytester.makefile(".scs", broken=PASSES.replace("Romeo disconnects", "Benvolio disconnects"))
    result = pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*broken.scs:14: unknown client 'Benvolio' (the script defines: Romeo)"])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("xmpp_scenarios = maybe\n", "*ini xmpp_scenarios / XMPPEXT_TEST_SCENARIOS: 'maybe' is not true or false"),
        ("xmpp_scenarios = true\nxmpp_scenario_timeout = inf\n", "*'inf' is not a number of seconds from 0 to 600"),
        (
            "xmpp_scenarios = true\nxmpp_scenario_responder = no-such-bot --flag\n",
            "*ini xmpp_scenario_responder / XMPPEXT_TEST_SCENARIO_RESPONDER: 'no-such-bot' is not a program on PATH*",
        ),
    ],
)
def test_bad_settings_are_usage_errors(pytester, ini, message):
    pytester.makeini(ASYNCIO_INI + ini)
    result = pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.integration
def test_scripts_run_on_each_server_and_a_failure_shows_the_difference(pytester):
    pytester.makeini(SCENARIOS_INI + "xmpp_scenario_timeout = 3\n")
    pytester.makefile(".scs", passes=PASSES, fails=FAILS)
    result = pytester.runpytest_subprocess("--xmpp-server", "all", "-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=2, failed=2)
    output = result.stdout.str()
    for server in ("prosody", "ejabberd"):
        result.stdout.fnmatch_lines([f"FAILED fails.scs::fails[[]{server}[]]*"])
        assert f"FAILED {pytester.path / 'fails.scs'} on {server}: 1 of 4 steps failed, first at line 12" in output
    # The report is the scenario's own: the side-by-side difference, not a Python traceback.
    assert "first difference, line 13, at iq: attribute type differs: expected" in output
    assert "Traceback" not in output and "run_collected_script" not in output
    result.stdout.fnmatch_lines(["*prosody log (last lines)*"])  # the plugin's server log, as for any test


@pytest.mark.integration
def test_the_responder_setting_starts_a_program_beside_each_script(pytester):
    command = shlex.join([sys.executable, str(BOT)])
    pytester.makeini(SCENARIOS_INI + f"xmpp_scenario_responder = {command}\n")
    pytester.makefile(".scs", responder=PINGS_THE_RESPONDER)
    result = pytester.runpytest_subprocess("--xmpp-server", "all", "-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=2)


@pytest.mark.integration
def test_an_unset_variable_fails_the_test_naming_it(pytester):
    pytester.makeini(SCENARIOS_INI)
    pytester.makefile(".scs", responder=PINGS_THE_RESPONDER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*responder.scs:9: environment variable(s) not set: XMPPEXT_SCENARIO_RESPONDER"])
