"""Parsing, usage errors and bad input, with click's CliRunner: nothing here reaches a server.

Every command below points at a closed local port: had anything tried to
connect, the exit code would be 3, not 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from xmpp_ext import __version__
from xmpp_ext.cli import cli
from xmpp_ext.servers import free_port

NS = "https://example.net/our_extension"


@pytest.fixture
def invoke():
    env = {
        "XMPPEXT_JID": "me@localhost",
        "XMPPEXT_PASSWORD": "pw-not-used",
        "XMPPEXT_HOST": "127.0.0.1",
        "XMPPEXT_PORT": str(free_port()),
    }

    def run(*args: str, **overrides: str | None):
        return CliRunner().invoke(cli, list(args), env={**env, **overrides})

    return run


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("malformed.xml", f"<example_tag xmlns='{NS}'>", "not well-formed XML"),
        ("root.xml", f"<other xmlns='{NS}'/>", "root element must be <example_tag"),
        ("namespace.xml", "<example_tag xmlns='urn:other'/>", "not <example_tag xmlns='urn:other'>"),
        ("dtd.xml", f"<!DOCTYPE example_tag><example_tag xmlns='{NS}'/>", "DTDs are not allowed"),
        (
            "entity.xml",
            f"<!DOCTYPE x [<!ENTITY big 'aaaa'>]><example_tag xmlns='{NS}'>&big;</example_tag>",
            "not allowed in XMPP",
        ),
        ("large.xml", f"<example_tag xmlns='{NS}' some_string='x'>{'a' * 70000}</example_tag>", "larger than"),
    ],
)
@pytest.mark.parametrize("kind", [None, "iq", "message"])
def test_bad_path_exits_2_naming_the_file(invoke, tmp_path, name, content, problem, kind):
    path = write(tmp_path, name, content)
    args = ["send", "-t", "peer@localhost/r", "--path", path] + (["--kind", kind] if kind else [])
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert problem in result.output and path in result.output
    assert "Traceback" not in result.output


def test_missing_path(invoke, tmp_path):
    result = invoke("send", "-t", "peer@localhost/r", "--path", str(tmp_path / "absent.xml"))
    assert result.exit_code == 2
    assert "absent.xml: cannot read file (No such file or directory)" in result.output


def test_directory_as_path(invoke, tmp_path):
    result = invoke("send", "-t", "peer@localhost/r", "--path", str(tmp_path))
    assert result.exit_code == 2
    assert "is a directory" in result.output


def test_bad_xml_string(invoke):
    result = invoke("send", "-t", "peer@localhost/r", "--kind", "iq", "--xml", "<example_tag")
    assert result.exit_code == 2
    assert "Invalid value for --xml: XML string: not well-formed XML" in result.output


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["-t", "not a jid@@/"], "is not a valid JID"),
        (["-j", "@localhost", "-t", "peer@localhost"], "is not a valid JID"),
        (["-j", "localhost", "-t", "peer@localhost"], "has no user part"),
        (["-t", "p@localhost/r", "--some-string", "x"], "need --kind"),
        (["-t", "p@localhost/r", "--kind", "iq", "--path", "a", "--xml", "<x/>"], "choose one"),
        (["-t", "p@localhost/r", "--kind", "iq", "--no-reply"], "--no-reply is for --kind message"),
        (["-t", "p@localhost/r", "--kind", "message", "--repeat", "3"], "--repeat sends iqs"),
        (["-t", "p@localhost/r", "--kind", "iq", "--inner", "bad spec"], "expected NAME:KEY=VALUE"),
        (["-t", "p@localhost/r", "--kind", "iq", "--inner", "inside_tag:novalue"], "is not KEY=VALUE"),
        (["-t", "p@localhost/r", "--kind", "iq", "--inner", "inside_tag:bad key=1"], "'bad key' is not an XML name"),
        (["-t", "p@localhost/r", "--kind", "iq", "--inner", "1tag:a=1"], "'1tag' is not an XML name"),
        (["-t", "p@localhost/r", "--kind", "iq", "--inner", "inside_tag:a=\x0b"], "attribute a contains U+000B"),
        (["-t", "p@localhost/r", "--kind", "iq", "--text", "bell\x07"], "'--text': value contains U+0007"),
        (["-t", "p@localhost/r", "--kind", "iq", "--some-string", "\ufffe"], "contains U+FFFE"),
        (["-t", "p@localhost/r", "--kind", "iq", "--some-string", "x", "--text", "a" * 70000], "more than 65536"),
        (
            ["-t", "p@localhost/r", "--kind", "iq", "--xml", f"<example_tag xmlns='{NS}'>{'a' * 70000}</example_tag>"],
            "more than 65536",
        ),
        (["-t", "p@localhost/r", "--kind", "iq", "--boolean", "maybe"], "'maybe' is not one of 'true', 'false'"),
        (["-t", "p@localhost/r", "--port", "70000"], "70000 is not in the range"),
        (["-t", "p@localhost/r", "--timeout", "0"], "--timeout"),
        (
            ["-t", "p@localhost/r", "--timeout", "nan"],
            "'nan': seconds must be a finite number, more than 0 and at most 3600",
        ),
        (["-t", "p@localhost/r", "--timeout", "inf"], "'inf': seconds must be a finite number"),
        (["-t", "p@localhost/r", "--timeout", "1e300"], "'1e300': seconds must be a finite number"),
        (["-t", "p@localhost/r", "--kind", "iq", "--inner", "inside_tag:a=1,a=2"], "'a' is given twice"),
        (["-t", "p@localhost/r", "--login-timeout", "nan"], "--login-timeout"),
        (["-t", ""], "a JID cannot be empty"),
        (["-t", "p@localhost/r", "--kind", "iq", "--window", "4"], "use it with --repeat"),
        (["-t", "p@localhost/r", "--kind", "message", "--iq-type", "set"], "not with --kind message"),
        (["-t", "p@localhost/r", "--repeat", "10", "--window", "1000000"], "1000000 is not in the range 1<=x<=4096"),
    ],
)
def test_usage_errors_exit_2(invoke, args, problem):
    result = invoke("send", *args)
    assert result.exit_code == 2, result.output
    assert problem in result.output


def test_reply_string_xml_cannot_carry_exits_2(invoke):
    result = invoke("respond", "--reply-string", "nul\x00")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--reply-string': value contains U+0000" in result.output


def test_reply_string_too_large_once_escaped_exits_2(invoke):
    result = invoke("respond", "--reply-string", '"' * 200)  # 1,200 bytes as &quot;
    assert result.exit_code == 2, result.output
    assert "1200 bytes once written as XML; at most 1024" in result.output


def test_no_password_without_terminal_exits_2(invoke):
    result = invoke("send", "-t", "peer@localhost/r", XMPPEXT_PASSWORD=None)
    assert result.exit_code == 2
    assert "no password: set XMPPEXT_PASSWORD, pass -p/--password" in result.output


def test_missing_ca_cert_exits_2(invoke, tmp_path):
    result = invoke("respond", "--ca-cert", str(tmp_path / "none.pem"))
    assert result.exit_code == 2
    assert "none.pem' does not exist" in result.output


@pytest.mark.parametrize(
    "content", ["", "just text\n", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
)
@pytest.mark.parametrize("command", ["send", "respond", "disco"])
def test_ca_cert_without_a_certificate_exits_2_in_one_line(invoke, tmp_path, command, content):
    path = tmp_path / "not-a-ca.pem"
    path.write_text(content)
    args = {"send": ["-t", "p@localhost/r"], "respond": [], "disco": ["localhost"]}[command]
    result = invoke(command, *args, "--ca-cert", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path} holds no PEM certificate" in result.output
    assert "Traceback" not in result.output


def test_ready_fifo_must_be_a_fifo(invoke, tmp_path):
    regular = tmp_path / "file"
    regular.write_text("keep me")
    result = invoke("respond", "--ready-fifo", str(regular))
    assert result.exit_code == 2 and "is not a FIFO" in result.output
    assert regular.read_text() == "keep me"


def test_disco_query_typo_is_a_usage_error_with_a_suggestion(invoke):
    result = invoke("disco", "featurs", "peer@localhost")
    assert result.exit_code == 2, result.output
    assert "unknown query 'featurs'; did you mean 'features'?" in result.output


def test_run_pair_terminal_not_installed_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["run-pair", "--local", "--terminal", "no-such-terminal-xyz -e"])
    assert result.exit_code == 2, result.output
    assert "'no-such-terminal-xyz' is not installed" in result.output


def test_run_pair_terminal_with_a_responder_command_says_so_before_the_missing_terminal():
    args = ["run-pair", "--local", "--terminal", "no-such-terminal-xyz -e", "--responder-cmd", "python bot.py"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "--terminal opens windows for xmppext's own clients: not with --responder-cmd" in result.output
    assert "not installed" not in result.output


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        ("send", ["0", "1", "2", "3", "130"]),
        ("respond", ["0", "2", "3"]),
        ("disco", ["0", "1", "2", "3", "130"]),
        ("local-server", ["0", "2", "3", "130"]),
        ("run-pair", ["0", "1", "2", "3", "130"]),
    ],
)
def test_each_help_lists_its_own_exit_codes(command, codes):
    import re

    result = CliRunner().invoke(cli, [command, "--help"])
    listed = re.findall(r"^\s+(\d+)  ", result.output.split("Exit codes:")[1], flags=re.M)
    assert listed == codes


def test_help_shows_the_environment_variables():
    result = CliRunner().invoke(cli, ["send", "--help"])
    for name in ("XMPPEXT_JID", "XMPPEXT_PASSWORD", "XMPPEXT_HOST", "XMPPEXT_PORT", "XMPPEXT_CA_CERT"):
        assert name in result.output


def test_bad_allow_jid(invoke):
    result = invoke("respond", "--allow", "a@@b")
    assert result.exit_code == 2 and "--allow" in result.output


def test_nothing_listening_exits_3_with_one_line(invoke):
    result = invoke("send", "-t", "peer@localhost/r", "--kind", "iq")
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert (
        lines[0].startswith("Error: cannot log in to 127.0.0.1:") and "as me@localhost: connection failed" in lines[0]
    )
    assert lines[0].endswith("is the server running there? (--host/--port, or the JID's domain by DNS SRV)")
    assert "pw-not-used" not in result.output


def test_help_documents_exit_codes_and_examples():
    for command in ("send", "respond"):
        result = CliRunner().invoke(cli, [command, "-h"])
        assert result.exit_code == 0
        assert "Exit codes:" in result.output and "3  could not connect" in result.output
        assert "Examples:" in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["info"], "missing TARGET: expected [info|items|identities|features|all] TARGET [NODE]"),
        ([], "missing TARGET"),
        (["a@localhost", "node", "extra"], "expected [info|items"),
        (["info", "bad@@jid"], "is not a valid JID"),
    ],
)
def test_disco_usage_errors(invoke, args, problem):
    result = invoke("disco", *args)
    assert result.exit_code == 2, result.output
    assert problem in result.output


def test_password_on_the_command_line_is_warned_about(invoke):
    on_command_line = invoke("send", "-t", "peer@localhost/r", "--kind", "iq", "-p", "hunter2", XMPPEXT_PASSWORD=None)
    assert "a password on the command line is visible to every user" in on_command_line.output
    assert "hunter2" not in on_command_line.output
    from_environment = invoke("send", "-t", "peer@localhost/r", "--kind", "iq")
    assert "on the command line" not in from_environment.output


@pytest.mark.parametrize(("word", "value"), [("TRUE", True), ("1", True), ("false", False), ("0", False)])
def test_boolean_words(monkeypatch, word, value):
    from xmpp_ext.cli.send import command as send

    monkeypatch.setenv("XMPPEXT_JID", "me@localhost")
    context = send.make_context("send", ["-t", "p@localhost/r", "--kind", "iq", "--boolean", word])
    assert context.params["boolean"] is value


def test_message_text_counted_twice_on_the_wire_exits_2(invoke):
    # 40,000 characters: the tag alone fits, but a message carries the text in its body and in the tag.
    result = invoke("send", "-t", "p@localhost/r", "--kind", "message", "--some-string", "s", "--text", "a" * 40_000)
    assert result.exit_code == 2, result.output
    assert "the message stanza as written" in result.output and "more than 65536" in result.output


def test_local_server_never_overwrites_a_file_it_did_not_write(tmp_path):
    mine = tmp_path / ".env"
    mine.write_text("SENDER_JID=me@example.net\nSENDER_PASSWORD=my-real-password\n")
    result = CliRunner().invoke(cli, ["local-server", "--env-file", str(mine)])
    assert result.exit_code == 2, result.output
    assert str(mine) in result.output and "--env-file" in result.output
    assert "listening" not in result.output  # refused before any server started
    assert mine.read_text() == "SENDER_JID=me@example.net\nSENDER_PASSWORD=my-real-password\n"


def test_bad_value_from_the_environment_names_the_variable(invoke):
    result = invoke("send", "-t", "p@localhost/r", XMPPEXT_PORT="abc")
    assert result.exit_code == 2, result.output
    assert "(env var: 'XMPPEXT_PORT')" in result.output


def test_as_role_takes_the_login_from_the_env_file(invoke, tmp_path):
    from xmpp_ext.util.envfile import PairCredentials, write_env_file
    from xmpp_ext.util.secret import Secret

    port = free_port()
    env_file = tmp_path / ".env"
    write_env_file(
        env_file,
        PairCredentials("alice@localhost", Secret("a-pw"), "bob@localhost", Secret("b-pw"), "127.0.0.1", port),
    )
    unset = dict.fromkeys(("XMPPEXT_JID", "XMPPEXT_PASSWORD", "XMPPEXT_HOST", "XMPPEXT_PORT"))
    result = invoke(
        "send", "--as", "sender", "--env-file", str(env_file), "-t", "p@localhost/r", "--kind", "iq", **unset
    )
    assert result.exit_code == 3, result.output  # it tried to log in: with the file's JID, host and port
    assert f"cannot log in to 127.0.0.1:{port} as alice@localhost" in result.output
    assert "a-pw" not in result.output
    typed = invoke("respond", "--as", "responder", "--env-file", str(env_file), "-j", "carol@localhost", **unset)
    assert f"127.0.0.1:{port} as carol@localhost" in typed.output  # the command line wins


def test_no_jid_anywhere_is_a_usage_error(invoke):
    result = invoke("send", "-t", "p@localhost/r", XMPPEXT_JID=None)
    assert result.exit_code == 2
    assert "Missing option '-j' / '--jid'" in result.output and "--as sender|responder" in result.output


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["run-pair", "--server", "ejabberd"], "--server chooses the server --local starts"),
        (["run-pair", "--local", "--env-file", "x.env"], "--local makes its own accounts"),
        (["local-server", "--env-file", "/nonexistent-dir/x.env"], "cannot write in /nonexistent-dir"),
    ],
)
def test_options_that_cannot_apply_are_usage_errors(args, problem):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert problem in result.output


def test_top_level_help_says_what_works_for_any_extension():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    first = result.output.split("\n\n")[1]
    assert "Test your own XMPP stanza extension" in first
    any_extension = result.output.split("For any extension:")[1].split("Without those options")[0]
    for name in (
        "scenario",
        "fault-proxy",
        "pytest plugin",
        "--responder",
        "send --raw",
        "respond --plugin",
        "run-pair --responder-cmd",
        "disco",
        "--has",
    ):
        assert name in any_extension
    assert "Without those options, send, respond and run-pair exercise the bundled" in result.output
