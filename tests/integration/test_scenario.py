"""``xmppext scenario`` against the real server: the shipped scripts, a failing one, --junit, errors."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from xmpp_ext.cli.scenario import command
from xmpp_ext.scenario.local import run_on_server
from xmpp_ext.scenario.output import TextOutput
from xmpp_ext.scenario.runner import StepStatus
from xmpp_ext.scenario.script import load
from xmpp_ext.util.exitcodes import ExitCode

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def explain(result) -> str:
    lines: list[str] = []
    TextOutput(lines.append).script(result)
    return "\n".join(lines)


@pytest.mark.parametrize("name", ["example_tag_exchanges.scs", "server_basics.scs"])
def test_the_shipped_scripts_pass(xmpp_server, patched_slixmpp, name):
    result = run_on_server(load(SCENARIOS / name), xmpp_server, timeout=10)
    assert result.status == StepStatus.PASSED, explain(result)
    assert all(step.seconds is not None for step in result.steps)


def test_accounts_are_fresh_for_each_script(xmpp_server, patched_slixmpp):
    # server_basics adds Juliet to Romeo's roster; the next run starts from an empty roster again,
    # or its first roster result would carry the item and the push would not come.
    script = load(SCENARIOS / "server_basics.scs")
    for _ in range(2):
        result = run_on_server(script, xmpp_server, timeout=10)
        assert result.status == StepStatus.PASSED, explain(result)
    assert not any(account.localpart in ("romeo", "juliet") for account in xmpp_server.accounts)


def test_the_live_responder_script_checks_a_running_xmppext_respond(xmpp_server, patched_slixmpp, responder):
    running = responder()
    script = load(SCENARIOS / "live" / "live_responder.scs")
    result = run_on_server(script, xmpp_server, timeout=10, environ={"XMPPEXT_SCENARIO_RESPONDER": running.full_jid})
    assert result.status == StepStatus.PASSED, explain(result)
    # Without the variable the first step that needs it says which one is missing, and the script ends there
    # (the command refuses such a script before running it; the runner checks again).
    result = run_on_server(script, xmpp_server, timeout=10, environ={})
    problem = result.first_problem
    assert problem is not None and problem.line == 15  # the first step using it
    assert problem.message == (
        "${env:XMPPEXT_SCENARIO_RESPONDER}: the environment variable XMPPEXT_SCENARIO_RESPONDER is not set"
    )
    assert {step.status for step in result.steps[result.steps.index(problem) + 1 :]} == {StepStatus.NOT_RUN}


# -- the command, against the test server as any server ---------------------------------


def two_accounts(make_account) -> tuple[str, str, str]:
    """Fresh accounts for a script's Romeo and Juliet, and the client definitions naming them."""
    password = secrets.token_urlsafe(12)
    romeo = make_account(f"romeo-{secrets.token_hex(4)}", password)
    juliet = make_account(f"juliet-{secrets.token_hex(4)}", password)
    clients = (
        f"[Client] Romeo\n\tjid: {romeo.jid}\n\tpassword: {password}\n"
        f"[Client] Juliet\n\tjid: {juliet.jid}\n\tpassword: {password}\n-----\n"
    )
    return clients, romeo.jid, juliet.jid


FAILING = """\
Romeo connects
Juliet connects
Romeo sends:
\t<message type="chat" id="m1" to="${Juliet's full JID}">
\t\t<body>Good morrow</body>
\t</message>
Juliet receives:
\t<message type="chat" id="m1" from="${Romeo's full JID}">
\t\t<body>Good night</body>
\t</message>
Romeo sends:
\t<message type="chat" id="m2" to="${Juliet's full JID}"><body>Anon</body></message>
Juliet receives: nothing
Juliet receives:
\t<message type="chat" from="${Romeo's full JID}"><thread/></message>
"""


def server_options(server) -> list[str]:
    return ["--host", server.host, "--port", str(server.port), "--ca-cert", str(server.ca_cert)]


def test_a_failing_script_shows_the_difference_side_by_side(xmpp_server, make_account, tmp_path):
    clients, romeo, _juliet = two_accounts(make_account)
    path = tmp_path / "failing.scs"
    path.write_text(clients + FAILING)
    result = CliRunner().invoke(command, [str(path), *server_options(xmpp_server), "--timeout", "3"])
    assert result.exit_code == ExitCode.FAILED, result.output
    lines = result.output.splitlines()
    body_line = 16  # <body>Good night</body>: 7 lines of clients and separator, then the actions
    failed = next(line for line in lines if "line 14   Juliet receives " in line)
    assert "FAILED" in failed
    assert failed.endswith(
        "received a stanza that does not match: at message/body: text differs: "
        "expected 'Good night', received 'Good morrow'"
    )
    header = lines[lines.index(failed) + 1]
    assert header.split("|")[0].strip() == "expected (line 15)" and header.split("|")[1].strip() == "received"
    marked = [line for line in lines if line.lstrip().startswith(">")]
    assert "<body>Good night</body>" in marked[-1].split("|")[0]
    assert marked[-1].split("|")[1] == ">  <body>Good morrow</body>"
    assert f"first difference, line {body_line}, at message/body: text differs" in result.output
    # receives: nothing got the second message: it is shown, and named in the verdict.
    nothing = next(line for line in lines if "Juliet receives: nothing" in line)
    assert "FAILED" in nothing and "expected nothing, received 1 stanza(s): <message " in nothing
    assert 'id="m2"' in nothing
    # The last receives: waits --timeout and says so.
    waited = next(line for line in lines if "line 21   Juliet receives " in line)
    assert f'nothing received within 3s (waiting for <message type="chat" from="{romeo}/' in waited
    verdict = f"FAILED {path} on {xmpp_server.host}:{xmpp_server.port}: 3 of 7 steps failed, first at line 14"
    assert f"{verdict} (Juliet receives)" in lines
    assert lines[-1] == "1 script: 0 passed, 1 failed"


def test_json_gives_the_whole_stanzas_and_text_fits_the_terminal(xmpp_server, make_account, tmp_path):
    clients, romeo, juliet = two_accounts(make_account)
    path = tmp_path / "failing.scs"
    path.write_text(clients + FAILING)
    args = [str(path), *server_options(xmpp_server), "--timeout", "1"]
    as_json = CliRunner().invoke(command, [*args, "--json"])
    steps = [json.loads(line) for line in as_json.output.splitlines() if '"type": "step"' in line]
    # The expected stanza with its variables filled in, and the received one, whole: not a clipped rendering.
    failed = next(step for step in steps if step["line"] == 14)
    (expected,) = failed["expected"]
    assert re.fullmatch(
        f'<message type="chat" id="m1" from="{re.escape(romeo)}/[^"]+"><body>Good night</body></message>', expected
    ), expected
    (received,) = failed["received"]
    assert received.startswith("<message ") and "<body>Good morrow</body>" in received and f'to="{juliet}/' in received
    waited = next(step for step in steps if step["line"] == 21)
    assert re.fullmatch(
        f'<message type="chat" from="{re.escape(romeo)}/[^"]+"><thread /></message>', *waited["expected"]
    )
    # Text: the side-by-side report laid out for an 80-column terminal.
    text = CliRunner().invoke(command, args, env={"COLUMNS": "80"})
    assert max(len(line) for line in text.output.splitlines() if " |" in line) <= 80, text.output


def test_junit_has_a_case_per_script_with_the_diff(xmpp_server, make_account, tmp_path):
    clients, _romeo, _juliet = two_accounts(make_account)
    (tmp_path / "a_passes.scs").write_text(clients + "Romeo connects\nRomeo receives: nothing\nRomeo disconnects\n")
    (tmp_path / "b_fails.scs").write_text(clients + FAILING)
    report = tmp_path / "junit.xml"
    result = CliRunner().invoke(
        command, [str(tmp_path), *server_options(xmpp_server), "--timeout", "2", "--junit", str(report)]
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    root = ElementTree.parse(report).getroot()
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == ("testsuites", "2", "1", "0")
    cases = root.findall("testsuite/testcase")
    assert [case.get("name") for case in cases] == ["a_passes.scs", "b_fails.scs"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure.get("message").startswith("line 14 Juliet receives: received a stanza that does not match")
    assert "first difference, line 16, at message/body" in failure.text
    assert result.output.splitlines()[-1] == "2 scripts: 1 passed, 1 failed"


def test_without_host_each_client_goes_where_its_definition_says(xmpp_server, make_account, tmp_path):
    clients, _romeo, _juliet = two_accounts(make_account)
    where = f"\tconnect_host: {xmpp_server.host}\n\tconnect_port: {xmpp_server.port}\n"
    clients = clients.replace("[Client] Juliet", where + "[Client] Juliet").replace("-----", where + "-----")
    path = tmp_path / "own_server.scs"
    path.write_text(clients + "Romeo connects\nJuliet connects\nJuliet receives: nothing\n")
    result = CliRunner().invoke(command, [str(path), "--ca-cert", str(xmpp_server.ca_cert)])
    assert result.exit_code == ExitCode.OK, result.output
    assert f"PASSED {path} on the scripts' servers: 3 steps in " in result.output
    # The same script without the server's CA: TLS is verified, so no session.
    untrusted = CliRunner().invoke(command, [str(path)])
    assert untrusted.exit_code == ExitCode.CONNECT, untrusted.output
    assert "TLS certificate not trusted" in untrusted.output


def test_a_wrong_password_exits_3_with_one_line(xmpp_server, make_account, tmp_path):
    clients, romeo, _juliet = two_accounts(make_account)
    path = tmp_path / "wrong.scs"
    path.write_text(clients.replace("password: ", "password: x", 1) + "Romeo connects\nJuliet connects\n")
    result = CliRunner().invoke(command, [str(path), *server_options(xmpp_server)])
    assert result.exit_code == ExitCode.CONNECT, result.output
    assert (
        f"ERROR {path} on {xmpp_server.host}:{xmpp_server.port}: line 8 Romeo connects: cannot log in to"
        in result.output
    )
    assert f"as {romeo}: authentication failed" in result.output
    assert "not run" in result.output  # Juliet's step after the error
    assert "Traceback" not in result.output


def test_json_has_an_object_per_step_and_script(xmpp_server, make_account, tmp_path):
    import json

    clients, _romeo, _juliet = two_accounts(make_account)
    path = tmp_path / "short.scs"
    path.write_text(clients + "Romeo connects\nRomeo receives: nothing\n")
    result = CliRunner().invoke(command, [str(path), *server_options(xmpp_server), "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    objects = [json.loads(line) for line in result.output.splitlines()]
    assert [item.get("type") for item in objects] == ["step", "step", "script", None]
    assert objects[0]["action"] == "Romeo connects" and objects[0]["status"] == "passed" and objects[0]["ms"] > 0
    assert objects[2]["status"] == "passed"
    assert objects[3] == {"summary": {"scripts": 1, "passed": 1, "failed": 0}}


def test_the_whole_run_ends_at_max_run_time(xmpp_server, make_account, tmp_path):
    clients, _romeo, _juliet = two_accounts(make_account)
    # A receives: that waits up to --timeout 600, and a second script after it.
    (tmp_path / "a_waits.scs").write_text(clients + "Romeo connects\nRomeo receives:\n\t<message type='never'/>\n")
    (tmp_path / "b_later.scs").write_text(clients + "Romeo connects\n")
    report = tmp_path / "report.xml"
    result = CliRunner().invoke(
        command,
        [
            str(tmp_path),
            *server_options(xmpp_server),
            "--timeout",
            "600",
            "--max-run-time",
            "2",
            "--junit",
            str(report),
        ],
    )
    assert result.exit_code == ExitCode.FAILED, result.output
    lines = result.output.splitlines()
    waited = next(line for line in lines if "Romeo receives" in line)
    assert "FAILED" in waited
    assert waited.endswith('stopped: the run reached its time limit (waiting for <message type="never">)')
    assert lines[-2] == "1 script: 0 passed, 1 failed"
    assert lines[-1] == "Error: the run reached --max-run-time 2s and was stopped; 1 script run(s) not started"
    assert ElementTree.parse(report).getroot().get("failures") == "1"  # the report has what ran
