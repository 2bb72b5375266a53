"""``send --path -``: the tag from standard input, bounded like a file (nothing here reaches a server)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from xmpp_ext.cli import cli
from xmpp_ext.jobs.send import read_tag_source
from xmpp_ext.plugin import ExampleTagError
from xmpp_ext.plugin.payload import MAX_PAYLOAD_BYTES
from xmpp_ext.servers import free_port

NS = "https://example.net/our_extension"
ENV = {
    "XMPPEXT_JID": "me@localhost",
    "XMPPEXT_PASSWORD": "pw-not-used",
    "XMPPEXT_HOST": "127.0.0.1",
}


def send_with_stdin(data: bytes, *args: str):
    env = {**ENV, "XMPPEXT_PORT": str(free_port())}
    return CliRunner().invoke(cli, ["send", "-t", "peer@localhost/r", "--path", "-", *args], input=data, env=env)


def test_the_tag_is_read_from_standard_input():
    tag = read_tag_source(Path("-"), io.BytesIO(f'<example_tag xmlns="{NS}" some_string="from stdin"/>'.encode()))
    assert tag["some_string"] == "from stdin"


def test_more_than_64_kib_on_standard_input_is_refused_without_reading_it_all():
    stream = io.BytesIO(b" " * (10 * MAX_PAYLOAD_BYTES))
    with pytest.raises(ExampleTagError, match="standard input: more than 65536 bytes"):
        read_tag_source(Path("-"), stream)
    assert stream.tell() == MAX_PAYLOAD_BYTES + 1  # bounded read


@pytest.mark.parametrize("kind", [None, "iq"])
def test_bad_xml_on_standard_input_exits_2_in_one_line(kind):
    result = send_with_stdin(b"<example_tag", *(["--kind", kind] if kind else []))
    assert result.exit_code == 2, result.output
    assert "standard input" in result.output and "Traceback" not in result.output


def test_oversized_standard_input_exits_2():
    result = send_with_stdin(b"x" * (MAX_PAYLOAD_BYTES + 1), "--kind", "iq")
    assert result.exit_code == 2
    assert "standard input: more than 65536 bytes" in result.output


def test_a_good_tag_on_standard_input_gets_as_far_as_connecting():
    result = send_with_stdin(f'<example_tag xmlns="{NS}" some_string="s"/>'.encode(), "--kind", "iq")
    assert result.exit_code == 3, result.output  # nobody listens on the port: the tag itself was accepted
    assert "cannot log in" in result.output
