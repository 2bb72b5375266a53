"""``xmppext scenario`` with hostile text: escape sequences and bidi characters from a script or a server.

On a terminal they are shown escaped (display.printable), never obeyed; in the JUnit report they are
escaped too, so the report stays well-formed XML that CI can read.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from click.testing import CliRunner
from slixmpp.xmlstream import ET

from xmpp_ext.cli.scenario import command
from xmpp_ext.scenario.junit import junit_bytes
from xmpp_ext.scenario.matching import Matcher
from xmpp_ext.scenario.output import TextOutput
from xmpp_ext.scenario.runner import ScriptResult, StepResult, StepStatus
from xmpp_ext.scenario.script import parse
from xmpp_ext.scenario.sidebyside import mismatch
from xmpp_ext.servers import free_port
from xmpp_ext.util.exitcodes import ExitCode

# What a terminal would obey: C0 (but tab and the line breaks between lines), DEL, C1, bidi controls.
OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TITLE_SETTER = "\x1b]0;PWNED\x07"  # OSC 0: sets the terminal's title
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: writes the clipboard
NAME = f"{TITLE_SETTER}Ro\u202emeo{CLIPBOARD}"
SHOWN_NAME = "\\x1b]0;PWNED\\x07Ro\\u202emeo\\x1b]52;c;cm0gLXJmIH4=\\x07"


def script_text(name: str = NAME) -> str:
    return f"# Hostile\n[Client] {name}\n\tjid: romeo@localhost\n\tpassword: pw\n-----\n{name} connects\n"


def test_a_client_name_with_escape_sequences_is_shown_escaped_and_the_junit_report_stays_valid(tmp_path):
    script = tmp_path / "hostile.scs"
    script.write_text(script_text())
    report = tmp_path / "report.xml"
    result = CliRunner().invoke(
        command,
        [str(script), "--host", "127.0.0.1", "--port", str(free_port()), "--junit", str(report)],
        env={},
        catch_exceptions=False,
    )
    assert result.exit_code == ExitCode.CONNECT, result.output
    assert OBEYED.findall(result.output) == []
    step = next(line for line in result.output.splitlines() if "connects" in line and "ERROR" in line)
    assert f"{SHOWN_NAME} connects" in step
    error = ElementTree.parse(report).getroot().find("testsuite/testcase/error")  # parses: well-formed
    assert error.get("message").startswith(f"line 6 {SHOWN_NAME} connects: cannot log in to")
    assert OBEYED.findall(report.read_text()) == []


def test_a_bad_script_quoting_a_client_name_is_shown_escaped(tmp_path):
    script = tmp_path / "far.scs"
    script.write_text(script_text().replace("romeo@localhost", "romeo@example.net"))
    result = CliRunner().invoke(command, [str(script), "--local"], env={}, catch_exceptions=False)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.output == (
        f"Error: {script}:2: client {SHOWN_NAME}'s JID romeo@example.net is not on the local server's domain "
        "(localhost)\n"
    )


def hostile_mismatch() -> tuple[ScriptResult, list[str]]:
    script = parse(script_text("Romeo") + "Romeo receives:\n\t<message><body>Good night</body></message>\n", "s.scs")
    expected = script.actions[1].stanzas[0]
    received = ET.fromstring(
        "<message xmlns='jabber:client' from='evil@localhost/\u202eexe.txt'>"
        "<body>\u202eGood morrow\x7f</body></message>"
    )
    difference, _captures = Matcher(lambda text: text).compare(expected, received)
    report = mismatch(expected, received, difference, lambda text: text, script.line_of)
    step = StepResult(7, "Romeo receives", StepStatus.FAILED, 0.01, f"does not match: {difference}", report, [received])
    # Laid out as a terminal of 160 columns would show it.
    return ScriptResult(
        script, "prosody", [StepResult(6, "Romeo connects", StepStatus.PASSED, 0.01), step]
    ), report.lines(160)


def test_the_side_by_side_view_shows_bidi_characters_escaped():
    result, report = hostile_mismatch()
    assert OBEYED.findall("\n".join(report)) == []
    assert any("\\u202eGood morrow\\x7f" in row for row in report)
    assert any('from="evil@localhost/\\u202eexe.txt"' in row for row in report)
    printed: list[str] = []
    TextOutput(printed.append).script(result)
    assert OBEYED.findall("\n".join(printed)) == []


def test_the_junit_report_is_well_formed_whatever_the_names_and_stanzas_hold():
    result, _report = hostile_mismatch()
    # Characters XML 1.0 forbids outright, in a client's name as a script may write it.
    result.steps[1].action = "Ro\x00me\x1bo\ufffe receives"
    root = ElementTree.fromstring(junit_bytes([result]))
    failure = root.find("testsuite/testcase/failure")
    assert failure.get("message").startswith("line 7 Ro\\x00me\\x1bo\\ufffe receives: does not match")
    assert "\\u202eGood morrow\\x7f" in failure.text
    assert "\n" in failure.text  # the diff keeps its lines
