"""The .env file (xmpp_ext.util.envfile): written safely, read strictly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from xmpp_ext.util import envfile
from xmpp_ext.util.envfile import MARKER, EnvFileError, PairCredentials, read_env_file, write_env_file
from xmpp_ext.util.secret import Secret

CREDENTIALS = PairCredentials(
    sender_jid="sender@localhost",
    sender_password=Secret("s3cret"),
    responder_jid="responder@localhost",
    responder_password=Secret("an0ther"),
    host="127.0.0.1",
    port=5222,
    ca_cert=Path("/tmp/ca.pem"),
)


def test_written_with_mode_600_and_read_back(tmp_path):
    path = tmp_path / ".env"
    old_umask = os.umask(0)  # even a careless umask gets mode 600
    try:
        write_env_file(path, CREDENTIALS)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().splitlines()[0] == MARKER
    assert read_env_file(path) == CREDENTIALS
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # no temporary file left


def test_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(envfile.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(envfile.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_env_file(tmp_path / ".env", CREDENTIALS)
    assert events[:2] == ["fsync", "replace"]


def test_our_own_file_is_replaced(tmp_path):
    path = tmp_path / ".env"
    write_env_file(path, CREDENTIALS)
    write_env_file(path, PairCredentials(**{**CREDENTIALS.__dict__, "port": 5333}))
    assert read_env_file(path).port == 5333


def test_someone_elses_file_is_not_overwritten(tmp_path):
    path = tmp_path / ".env"
    path.write_text("SENDER_JID=mine@example.net\nSENDER_PASSWORD=precious\n")
    with pytest.raises(EnvFileError) as info:
        write_env_file(path, CREDENTIALS)
    assert str(info.value) == (
        f"{path} exists and was not written by xmppext; not overwriting it: choose another file with --env-file"
    )
    assert path.read_text() == "SENDER_JID=mine@example.net\nSENDER_PASSWORD=precious\n"


def test_planted_symlink_is_not_followed(tmp_path):
    target = tmp_path / "victim"
    target.write_text(f"{MARKER}\nprecious\n")  # even one that looks like ours
    path = tmp_path / ".env"
    path.symlink_to(target)
    with pytest.raises(EnvFileError, match=r"is a symbolic link; xmppext does not write through links: .*--env-file"):
        write_env_file(path, CREDENTIALS)
    assert target.read_text() == f"{MARKER}\nprecious\n"
    assert path.is_symlink()


def test_planted_symlink_at_a_temporary_name_is_not_followed(tmp_path):
    # The temporary file once had a fixed name (.env.tmp): a link planted there was written through.
    target = tmp_path / "victim"
    target.write_text("precious\n")
    (tmp_path / ".env.tmp").symlink_to(target)
    write_env_file(tmp_path / ".env", CREDENTIALS)
    assert target.read_text() == "precious\n"
    assert read_env_file(tmp_path / ".env") == CREDENTIALS


def test_directory_in_the_way_is_refused(tmp_path):
    (tmp_path / ".env").mkdir()
    with pytest.raises(EnvFileError, match="is a directory, not a regular file"):
        write_env_file(tmp_path / ".env", CREDENTIALS)


def test_unwritable_directory_is_an_env_file_error(tmp_path):
    with pytest.raises(EnvFileError, match="cannot write in"):
        write_env_file(tmp_path / "absent" / ".env", CREDENTIALS)


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


REQUIRED = ("SENDER_JID=s@localhost", "RESPONDER_JID=r@localhost", "RESPONDER_PASSWORD=x")


@pytest.mark.parametrize(
    ("line", "password"),
    [
        ("SENDER_PASSWORD=pa${HOME}ss", "pa${HOME}ss"),  # no variable expansion
        ("SENDER_PASSWORD=$USER", "$USER"),
        ("SENDER_PASSWORD='pa${X}ss'", "pa${X}ss"),
        ('SENDER_PASSWORD="pa${X}ss"', "pa${X}ss"),
        # The quoting rules .env.example documents.
        ("SENDER_PASSWORD=abc #xyz", "abc"),
        ("SENDER_PASSWORD=abc#xyz", "abc#xyz"),
        ("SENDER_PASSWORD='abc #xyz'", "abc #xyz"),
        ("SENDER_PASSWORD='it\\'s \\\\ x'", "it's \\ x"),
        ("SENDER_PASSWORD='  spaced  '", "  spaced  "),
        ('SENDER_PASSWORD="tab\\tq\\"x"', 'tab\tq"x'),
    ],
)
def test_password_is_read_as_written(tmp_path, line, password):
    path = write_lines(tmp_path / ".env", *REQUIRED, line)
    assert read_env_file(path).sender_password.reveal() == password


def test_the_example_file_reads(tmp_path):
    example = Path(__file__).resolve().parents[3] / ".env.example"
    credentials = read_env_file(example)
    assert credentials.sender_password.reveal() == "change-me"
    assert credentials.port is None and credentials.insecure is False


@pytest.mark.parametrize("password", ["pa ss #x", "it's", "back\\slash\\'", "  spaced  ", "${HOME}", 'dq"x', "é"])
def test_written_passwords_read_back_exactly(tmp_path, password):
    path = tmp_path / ".env"
    write_env_file(path, PairCredentials(**{**CREDENTIALS.__dict__, "sender_password": Secret(password)}))
    assert read_env_file(path).sender_password.reveal() == password


@pytest.mark.parametrize("port", ["²", "0", "65536", "99999", "-1", "+5222", "5222 ", "1e3", "٥٢٢٢", "5" * 5000])
def test_bad_port_is_an_env_file_error(tmp_path, port):
    path = write_lines(tmp_path / ".env", *REQUIRED, "SENDER_PASSWORD=x", f"XMPP_PORT='{port}'")
    with pytest.raises(EnvFileError) as info:
        read_env_file(path)
    assert str(info.value) == f"{path}: XMPP_PORT must be a port number from 1 to 65535, not {port!r}"


@pytest.mark.parametrize("port", ["1", "5222", "65535"])
def test_good_port_is_read(tmp_path, port):
    path = write_lines(tmp_path / ".env", *REQUIRED, "SENDER_PASSWORD=x", f"XMPP_PORT={port}")
    assert read_env_file(path).port == int(port)


def test_non_utf8_file_is_an_env_file_error(tmp_path):
    path = tmp_path / ".env"
    path.write_bytes(b"SENDER_JID=s@localhost\nSENDER_PASSWORD=caf\xe9\n")
    with pytest.raises(EnvFileError) as info:
        read_env_file(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 0xe9 on line 2)"


def test_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / ".env"
    os.mkfifo(path)
    with pytest.raises(EnvFileError, match="not a regular file"):
        read_env_file(path)


def test_huge_file_is_refused(tmp_path):
    path = write_lines(tmp_path / ".env", *REQUIRED, "SENDER_PASSWORD=x", "#" * 70_000)
    with pytest.raises(EnvFileError, match="larger than 65536 bytes"):
        read_env_file(path)


def test_more_accounts_are_written_under_their_own_keys(tmp_path):
    from dataclasses import replace

    from dotenv import dotenv_values

    path = tmp_path / ".env"
    others = (("account3@localhost", Secret("th'ree")), ("account4@localhost", Secret("four")))
    write_env_file(path, replace(CREDENTIALS, others=others))
    values = dotenv_values(path, interpolate=False)
    assert values["XMPPEXT_ACCOUNT3_JID"] == "account3@localhost" and values["XMPPEXT_ACCOUNT3_PASSWORD"] == "th'ree"
    assert values["XMPPEXT_ACCOUNT4_PASSWORD"] == "four"
    assert read_env_file(path).sender_jid == "sender@localhost"  # the pair's keys are unchanged


def test_written_with_the_names_every_command_reads(tmp_path):
    path = tmp_path / ".env"
    write_env_file(path, CREDENTIALS)
    keys = [line.split("=", 1)[0] for line in path.read_text().splitlines()[1:]]
    assert keys == [
        "XMPPEXT_SENDER_JID",
        "XMPPEXT_SENDER_PASSWORD",
        "XMPPEXT_RESPONDER_JID",
        "XMPPEXT_RESPONDER_PASSWORD",
        "XMPPEXT_HOST",
        "XMPPEXT_PORT",
        "XMPPEXT_CA_CERT",
    ]
    from xmpp_ext.util import envvars

    assert {envvars.HOST, envvars.PORT, envvars.CA_CERT} <= set(keys)  # what --host, --port, --ca-cert read


def test_a_file_with_the_old_keys_is_still_read(tmp_path):
    old = write_lines(
        tmp_path / ".env",
        "SENDER_JID=sender@localhost",
        "SENDER_PASSWORD=s3cret",
        "RESPONDER_JID=responder@localhost",
        "RESPONDER_PASSWORD=an0ther",
        "XMPP_HOST=127.0.0.1",
        "XMPP_PORT=5222",
        "XMPP_CA_CERT=/tmp/ca.pem",
    )
    assert read_env_file(old) == CREDENTIALS


def test_a_new_key_wins_over_its_old_name_and_errors_name_the_key_read(tmp_path):
    path = write_lines(
        tmp_path / ".env", *REQUIRED, "SENDER_PASSWORD=old", "XMPPEXT_SENDER_PASSWORD=new", "XMPP_PORT=5222"
    )
    credentials = read_env_file(path)
    assert (credentials.sender_password.reveal(), credentials.port) == ("new", 5222)
    path = write_lines(tmp_path / ".env", *REQUIRED, "SENDER_PASSWORD=x", "XMPPEXT_PORT=http")
    with pytest.raises(EnvFileError, match="XMPPEXT_PORT must be a port number from 1 to 65535, not 'http'"):
        read_env_file(path)


def test_each_child_of_a_pair_logs_in_at_its_own_port_in_a_cluster():
    from dataclasses import replace

    from xmpp_ext.jobs.pair import child_environment

    crossing = replace(CREDENTIALS, responder_port=5333)
    assert (crossing.port_of("sender"), crossing.port_of("responder")) == (5222, 5333)
    assert (CREDENTIALS.port_of("sender"), CREDENTIALS.port_of("responder")) == (5222, 5222)
    sender = child_environment("sender@localhost/a", crossing, "sender")
    responder = child_environment("responder@localhost/b", crossing, "responder")
    assert (sender["XMPPEXT_PORT"], responder["XMPPEXT_PORT"]) == ("5222", "5333")
    assert (sender["XMPPEXT_PASSWORD"], responder["XMPPEXT_PASSWORD"]) == ("s3cret", "an0ther")
