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
from xmpp_ext.localserver import free_port

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


def test_no_password_without_terminal_exits_2(invoke):
    result = invoke("send", "-t", "peer@localhost/r", XMPPEXT_PASSWORD=None)
    assert result.exit_code == 2
    assert "no password: set XMPPEXT_PASSWORD, pass -p/--password" in result.output


def test_missing_ca_cert_exits_2(invoke, tmp_path):
    result = invoke("respond", "--ca-cert", str(tmp_path / "none.pem"))
    assert result.exit_code == 2
    assert "none.pem' does not exist" in result.output


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
        (["info"], "expected [info|items|identities|features|all] TARGET [NODE]"),
        (["a@localhost", "node", "extra"], "expected [info|items"),
        (["info", "bad@@jid"], "is not a valid JID"),
    ],
)
def test_disco_usage_errors(invoke, args, problem):
    result = invoke("disco", *args)
    assert result.exit_code == 2, result.output
    assert problem in result.output


def test_disco_listing_format():
    from xmpp_ext.disco import DiscoResult, format_listing

    result = DiscoResult(
        identities=[{"category": "client", "type": "bot", "name": "xmppext", "lang": None}],
        features=["a", "b"],
        items=[{"jid": "x@localhost", "node": "n", "name": None}],
    )
    assert format_listing(result) == [
        "Identities:",
        "  client/bot  xmppext",
        "Features:",
        "  a",
        "  b",
        "Items:",
        "  x@localhost  node=n",
    ]


@pytest.mark.parametrize(
    ("host", "port", "endpoint", "address"),
    [
        (None, None, None, "example.net (DNS SRV)"),
        ("127.0.0.1", None, ("127.0.0.1", 5222), "127.0.0.1:5222"),
        (None, 5223, ("example.net", 5223), "example.net:5223"),
        ("xmpp.example.net", 15222, ("xmpp.example.net", 15222), "xmpp.example.net:15222"),
    ],
)
def test_connection_endpoint(host, port, endpoint, address):
    from xmpp_ext.client import ConnectionSettings, build_client
    from xmpp_ext.secret import Secret

    settings = ConnectionSettings(jid="me@example.net", password=Secret("x"), host=host, port=port)
    assert settings.endpoint() == endpoint
    assert settings.address == address
    # With an explicit address slixmpp must not try direct TLS on a STARTTLS port first.
    assert build_client(settings, plugins=()).enable_direct_tls is (endpoint is None)


def test_password_on_the_command_line_is_warned_about(invoke):
    on_command_line = invoke("send", "-t", "peer@localhost/r", "--kind", "iq", "-p", "hunter2", XMPPEXT_PASSWORD=None)
    assert "a password on the command line is visible to every user" in on_command_line.output
    assert "hunter2" not in on_command_line.output
    from_environment = invoke("send", "-t", "peer@localhost/r", "--kind", "iq")
    assert "on the command line" not in from_environment.output


@pytest.mark.parametrize(("word", "value"), [("TRUE", True), ("1", True), ("false", False), ("0", False)])
def test_boolean_words(monkeypatch, word, value):
    from xmpp_ext.cli import send

    monkeypatch.setenv("XMPPEXT_JID", "me@localhost")
    context = send.make_context("send", ["-t", "p@localhost/r", "--kind", "iq", "--boolean", word])
    assert context.params["boolean"] is value
