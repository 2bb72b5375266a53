"""``xmppext scenario`` offline (xmpp_ext.cli.scenario): usage, bad scripts, tags, output shapes."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from click.testing import CliRunner
from slixmpp.xmlstream import ET

from xmpp_ext.cli.scenario import command
from xmpp_ext.scenario.junit import junit_xml
from xmpp_ext.scenario.output import JsonOutput, TextOutput, summary_line
from xmpp_ext.scenario.runner import ScriptResult, StepResult, StepStatus
from xmpp_ext.scenario.script import parse
from xmpp_ext.scenario.sidebyside import Listing
from xmpp_ext.util.exitcodes import ExitCode

GOOD = "# Good\n## smoke\n[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n-----\nRomeo connects\n"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(command, list(args), env=env or {}, catch_exceptions=False)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_script_that_does_not_parse_exits_2_with_file_line_and_runs_nothing(tmp_path):
    write(tmp_path, "a_good.scs", GOOD)
    bad = write(tmp_path, "b_bad.scs", GOOD + "Romeo sends:\n\t<message><body></message>\n")
    result = invoke(str(tmp_path), "--local")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.output == f"Error: {bad}:9: malformed XML: mismatched tag (column 19)\n"


def test_every_bad_script_is_named(tmp_path):
    first = write(tmp_path, "one.scs", GOOD + "Paris connects\n")
    second = write(tmp_path, "two.scs", GOOD + "Romeo sends:\n\t<message to='${Nurse}'/>\n")
    result = invoke(str(first), str(second))
    assert result.exit_code == ExitCode.BAD_INPUT
    lines = result.output.splitlines()
    assert lines[0] == f"Error: {first}:8: unknown client 'Paris' (the script defines: Romeo)"
    assert lines[1].startswith(f"Error: {second}:9: variable ${{Nurse}} does not exist")
    assert "Traceback" not in result.output


def test_local_needs_the_scripts_accounts_on_its_domain(tmp_path):
    path = write(tmp_path, "far.scs", GOOD.replace("romeo@localhost", "romeo@example.net"))
    result = invoke(str(path), "--local")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.output == (
        f"Error: {path}:3: client Romeo's JID romeo@example.net is not on the local server's domain (localhost)\n"
    )


def test_a_skipped_scripts_environment_variables_need_not_be_set(tmp_path):
    path = write(tmp_path, "peer.scs", GOOD + "Romeo sends:\n\t<iq to='${env:XMPPEXT_SCENARIO_PEER}' id='1'/>\n")
    result = invoke(str(path), "--local", "--skip-tags", "smoke", env={"XMPPEXT_SCENARIO_PEER": ""})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "0 scripts: 0 passed, 0 failed"


def test_junit_into_a_missing_directory_is_refused_before_anything_runs(tmp_path):
    path = write(tmp_path, "good.scs", GOOD)
    result = invoke(str(path), "--local", "--junit", str(tmp_path / "absent" / "out.xml"))
    assert result.exit_code == 2, result.output
    assert f"--junit {tmp_path / 'absent' / 'out.xml'}: no such directory" in result.output


def test_an_environment_variable_a_script_uses_must_be_set_before_anything_runs(tmp_path):
    path = write(tmp_path, "peer.scs", GOOD + "Romeo sends:\n\t<iq to='${env:XMPPEXT_SCENARIO_PEER}' id='1'/>\n")
    result = invoke(str(path), "--local", env={"XMPPEXT_SCENARIO_PEER": ""})
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.output == (
        f"Error: {path}:9: ${{env:XMPPEXT_SCENARIO_PEER}}: the environment variable XMPPEXT_SCENARIO_PEER is not set "
        "(set it, or leave the script out: --skip-tags smoke)\n"
    )


def test_usage_errors_exit_2(tmp_path):
    path = write(tmp_path, "good.scs", GOOD)
    server_without_local = invoke(str(path), "--server", "ejabberd")
    assert server_without_local.exit_code == ExitCode.BAD_INPUT
    assert "--server chooses the server --local starts; use it with --local" in server_without_local.output
    host_with_local = invoke(str(path), "--local", "--host", "127.0.0.1")
    assert host_with_local.exit_code == ExitCode.BAD_INPUT
    assert "--local starts one" in host_with_local.output
    (tmp_path / "empty").mkdir()
    empty = invoke(str(tmp_path / "empty"))
    assert empty.exit_code == ExitCode.BAD_INPUT
    assert "no *.scs scripts below" in empty.output
    missing = invoke(str(tmp_path / "nowhere.scs"))
    assert missing.exit_code == ExitCode.BAD_INPUT
    timeout = invoke(str(path), "--timeout", "0")
    assert timeout.exit_code == ExitCode.BAD_INPUT


def test_tags_select_scripts_before_anything_connects(tmp_path):
    path = write(tmp_path, "good.scs", GOOD)
    # Nothing selected: nothing connects, and the summary says so.
    result = invoke(str(path), "--skip-tags", "slow,smoke")
    assert result.exit_code == ExitCode.OK
    assert result.output == "0 scripts: 0 passed, 0 failed\n"
    result = invoke(str(path), "--only-tags", "pep", "--json")
    assert json.loads(result.output) == {"summary": {"scripts": 0, "passed": 0, "failed": 0}}


def test_help_lists_the_exit_codes():
    result = invoke("--help")
    assert result.exit_code == 0
    for line in ("0  every script passed", "1  a script failed", "2  bad usage, a script that does not parse"):
        assert line in result.output


# -- output shapes, from results made by hand -----------------------------------------


def results() -> list[ScriptResult]:
    script = parse(GOOD + "Romeo receives: nothing\n", "demo.scs")
    passed = ScriptResult(script, "prosody", [StepResult(7, "Romeo connects", StepStatus.PASSED, 0.012)], seconds=0.02)
    failed = ScriptResult(
        script,
        "ejabberd",
        [
            StepResult(7, "Romeo connects", StepStatus.PASSED, 0.015),
            StepResult(
                8,
                "Romeo receives: nothing",
                StepStatus.FAILED,
                0.003,
                "expected nothing",
                Listing("received:", ["<x/>"]),
            ),
        ],
        seconds=0.05,
    )
    return [passed, failed]


def test_text_output_has_steps_verdicts_and_the_summary_line():
    lines: list[str] = []
    output = TextOutput(lines.append)
    for result in results():
        output.script(result)
    output.summary(results())
    assert lines[0] == "demo.scs on prosody  (Good)"
    assert lines[1].split() == ["line", "7", "Romeo", "connects", "ok", "12.0", "ms"]
    assert lines[2] == "PASSED demo.scs on prosody: 1 steps in 20.0 ms"
    assert "FAILED" in lines[5] and lines[5].endswith("expected nothing")
    assert lines[6:8] == ["      received:", "      <x/>"]
    assert lines[8] == "FAILED demo.scs on ejabberd: 1 of 2 steps failed, first at line 8 (Romeo receives: nothing)"
    assert lines[-1] == summary_line(results()) == "2 scripts: 1 passed, 1 failed"


def test_json_output_is_one_object_per_step_and_script():
    lines: list[str] = []
    output = JsonOutput(lines.append)
    output.script(results()[1])
    output.summary(results())
    objects = [json.loads(line) for line in lines]
    assert [item.get("type") for item in objects] == ["step", "step", "script", None]
    assert objects[1] | {"ms": None} == {
        "type": "step",
        "script": "demo.scs",
        "server": "ejabberd",
        "line": 8,
        "action": "Romeo receives: nothing",
        "status": "failed",
        "ms": None,
        "message": "expected nothing",
        "expected": [],
        "received": [],
        "diff": ["  received:", "  <x/>"],
    }
    assert objects[2]["status"] == "failed" and objects[2]["failed_steps"] == 1
    assert objects[3] == {"summary": {"scripts": 2, "passed": 1, "failed": 1}}


def test_a_hostile_stanza_nested_too_deep_is_named_not_serialised():
    deep = ET.Element("{jabber:client}message")
    inner = deep
    for _ in range(120):  # deeper than a script may nest: only a peer sends this
        inner = ET.SubElement(inner, "{urn:x}x")
    step = StepResult(1, "Romeo receives", StepStatus.FAILED, received=[deep])
    assert step.received_xml() == ["<message> (nested deeper than 100 levels: not shown)"]
    shallow = StepResult(
        1, "Romeo receives", StepStatus.PASSED, received=[ET.Element("{jabber:client}message", id="1")]
    )
    assert shallow.received_xml() == ['<message id="1" />']


def test_junit_has_one_case_per_script_and_server_with_the_diff_in_the_failure():
    root = ElementTree.fromstring(ElementTree.tostring(junit_xml(results()).getroot()))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    cases = root.findall("testsuite/testcase")
    assert [(case.get("classname"), case.get("name")) for case in cases] == [
        ("scenario.prosody", "demo.scs"),
        ("scenario.ejabberd", "demo.scs"),
    ]
    failure = cases[1].find("failure")
    assert failure.get("message") == "line 8 Romeo receives: nothing: expected nothing"
    assert "received:\n  <x/>" in failure.text


# -- the environment, --responder and --as, refused before anything runs ---------------------


def test_a_password_from_an_unset_variable_is_a_usage_error_naming_the_line(tmp_path):
    path = write(tmp_path, "env.scs", GOOD.replace("password: pw", "password: ${env:XMPPEXT_SCENARIO_PW}"))
    result = invoke(str(path), "--local")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.output == (
        f"Error: {path}:5: ${{env:XMPPEXT_SCENARIO_PW}}: the environment variable XMPPEXT_SCENARIO_PW is not set "
        "(set it, or leave the script out: --skip-tags smoke)\n"
    )


def test_a_jid_from_the_environment_is_checked_against_the_local_domain(tmp_path):
    path = write(tmp_path, "env.scs", GOOD.replace("jid: romeo@localhost", "jid: ${env:XMPPEXT_SCENARIO_JID}"))
    result = invoke(str(path), "--local", env={"XMPPEXT_SCENARIO_JID": "romeo@example.net"})
    assert result.exit_code == ExitCode.BAD_INPUT
    assert f"{path}:3: client Romeo's JID romeo@example.net is not on the local server's domain" in result.output


def test_the_responder_variable_need_not_be_set_with_responder_but_is_otherwise(tmp_path):
    path = write(tmp_path, "peer.scs", GOOD + "Romeo sends:\n\t<iq to='${env:XMPPEXT_SCENARIO_RESPONDER}' id='1'/>\n")
    without = invoke(str(path), "--local", "--skip-tags", "none")
    assert without.exit_code == ExitCode.BAD_INPUT
    assert "the environment variable XMPPEXT_SCENARIO_RESPONDER is not set" in without.output
    # With --responder the variable is the program's JID once it is online: nothing to refuse; tags then
    # select no script, so nothing starts.
    selected_none = invoke(str(path), "--local", "--only-tags", "none", "--responder", "true")
    assert selected_none.exit_code == ExitCode.OK, selected_none.output


def test_responder_and_as_usage_errors(tmp_path):
    path = write(tmp_path, "good.scs", GOOD)
    cases = [
        (["--responder", "true"], "--responder needs an account for the program: --local makes a fresh one"),
        (["--local", "--responder", ""], "Invalid value for --responder: the command is empty"),
        (["--local", "--responder", "'unclosed"], "cannot be split into words (No closing quotation)"),
        (["--local", "--responder", "no-such-program-xyz --flag"], "'no-such-program-xyz' is not a program on PATH"),
        (["--local", "--as", "sender"], "--host, --port, --ca-cert and --as name a server of your own"),
        (["--as", "sender", "--env-file", str(tmp_path / "none.env")], f"{tmp_path / 'none.env'}: no such file"),
        (["--local", "--responder", "true", "--responder-timeout", "0"], "seconds must be a finite number"),
    ]
    for args, message in cases:
        result = invoke(str(path), *args)
        assert result.exit_code == ExitCode.BAD_INPUT, (args, result.output)
        assert message in result.output, (args, result.output)


def test_as_gives_the_scripts_the_accounts_login_and_the_server_of_the_env_file(tmp_path):
    from xmpp_ext.util.envfile import PairCredentials, write_env_file
    from xmpp_ext.util.secret import Secret

    env_file = tmp_path / "local.env"
    write_env_file(
        env_file,
        PairCredentials("s@localhost", Secret("s-pw"), "r@localhost", Secret("r-pw"), "127.0.0.1", 1, None),
    )
    env_file.chmod(0o600)
    clients = "[Client] Me\n\tjid: ${env:XMPPEXT_SCENARIO_JID}\n\tpassword: ${env:XMPPEXT_SCENARIO_PASSWORD}\n"
    path = write(tmp_path, "mine.scs", clients + "-----\nMe connects\n")
    result = invoke(str(path), "--as", "sender", "--env-file", str(env_file), "--json")
    # Port 1 of the file: nothing listens there, and the connection error names the account and the address.
    assert result.exit_code == ExitCode.CONNECT, result.output
    step = json.loads(result.output.splitlines()[0])
    assert step["message"].startswith("cannot log in to 127.0.0.1:1 as s@localhost: connection failed")


# -- directories --------------------------------------------------------------------------


def test_a_directory_means_every_script_below_it_but_what_is_excluded(tmp_path):
    (tmp_path / "live").mkdir()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    bad = "[Client] Romeo\n"  # does not parse: each one found is named
    for name in ("a.scs", "deep/er/b.scs", "live/c.scs", ".hidden/d.scs", "deep/e_slow.scs", "deep/notes.txt"):
        write(tmp_path, name, bad)
    everything = invoke(str(tmp_path))
    assert everything.exit_code == ExitCode.BAD_INPUT
    named = [line.removeprefix("Error: ").split(":")[0] for line in everything.output.splitlines()]
    assert named == [str(tmp_path / name) for name in ("a.scs", "deep/e_slow.scs", "deep/er/b.scs", "live/c.scs")]
    some = invoke(str(tmp_path), "--exclude", "live", "--exclude", "*_slow.scs")
    named = [line.removeprefix("Error: ").split(":")[0] for line in some.output.splitlines()]
    assert named == [str(tmp_path / "a.scs"), str(tmp_path / "deep/er/b.scs")]
    nothing_left = invoke(str(tmp_path), "--exclude", "*.scs")
    assert nothing_left.exit_code == ExitCode.BAD_INPUT
    assert f"no *.scs scripts below {tmp_path} (after --exclude)" in nothing_left.output


def test_a_symbolic_link_loop_below_a_directory_ends(tmp_path):
    write(tmp_path, "a.scs", GOOD)
    (tmp_path / "loop").symlink_to(tmp_path)
    result = invoke(str(tmp_path), "--skip-tags", "smoke")
    assert result.exit_code == ExitCode.OK
    assert result.output == "0 scripts: 0 passed, 0 failed\n"


def test_local_ignores_a_server_named_by_the_environment_only(tmp_path):
    """After sourcing a .env (XMPPEXT_HOST and XMPPEXT_PORT set), --local still runs on its own servers."""
    path = write(tmp_path, "good.scs", GOOD)
    environment = {"XMPPEXT_HOST": "192.0.2.1", "XMPPEXT_PORT": "5222"}
    result = invoke(str(path), "--local", "--skip-tags", "smoke", env=environment)
    assert result.exit_code == ExitCode.OK, result.output


def test_max_run_time_is_a_finite_number_of_seconds_with_a_default(tmp_path):
    path = write(tmp_path, "good.scs", GOOD)
    for value in ("0", "inf", "nan", "100000"):
        result = invoke(str(path), "--max-run-time", value)
        assert result.exit_code == ExitCode.BAD_INPUT, value
        assert "Invalid value for '--max-run-time'" in result.output
    assert "--max-run-time SECONDS" in invoke("--help").output
    assert "[default: 1800.0]" in " ".join(invoke("--help").output.split())
