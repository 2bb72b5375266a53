"""`xmppext record` before any server starts (refusals), and how the script file is written."""

from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from xmpp_ext.cli import cli
from xmpp_ext.record.scriptfile import problem_writing, write_script


def record(*args: str):
    return CliRunner().invoke(cli, ["record", *args])


def test_record_is_a_command_with_its_exit_codes():
    result = record("--help")
    assert result.exit_code == 0
    assert "scenario --local --server all OUT" in result.output
    assert [line.split()[0] for line in result.output.split("Exit codes:")[1].splitlines() if line.strip()] == [
        "0",
        "1",
        "2",
        "3",
        "130",
    ]


def test_an_existing_script_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "session.scs"
    out.write_text("mine\n")
    result = record(str(out), "--env-file", str(tmp_path / ".env"))
    assert result.exit_code == 2, result.output
    assert f"{out} exists; not overwriting it (--force replaces it)" in result.output
    assert "recording" not in result.output  # refused before any server started
    assert out.read_text() == "mine\n"
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--accounts", "1"], "1 is not in the range 2<=x<=10"),
        (["--accounts", "11"], "11 is not in the range 2<=x<=10"),
        (["--server", "openfire"], "'openfire' is not one of"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, args, problem):
    result = record(str(tmp_path / "x.scs"), *args)
    assert result.exit_code == 2, result.output
    assert problem in result.output


def test_a_hand_written_env_file_is_left_alone(tmp_path):
    mine = tmp_path / ".env"
    mine.write_text("SENDER_JID=me@example.net\nSENDER_PASSWORD=my-real-password\n")
    result = record(str(tmp_path / "x.scs"), "--env-file", str(mine))
    assert result.exit_code == 2, result.output
    assert "was not written by xmppext" in result.output
    assert mine.read_text() == "SENDER_JID=me@example.net\nSENDER_PASSWORD=my-real-password\n"


def test_out_in_a_missing_directory_or_a_directory_is_refused(tmp_path):
    assert problem_writing(tmp_path / "missing" / "x.scs", force=False) == (
        f"{tmp_path / 'missing' / 'x.scs'}: no such directory {tmp_path / 'missing'}"
    )
    assert problem_writing(tmp_path, force=True) == f"{tmp_path} is a directory"
    link = tmp_path / "link.scs"
    link.symlink_to(tmp_path / "nowhere")
    assert "exists" in problem_writing(link, force=False)


def test_the_script_gets_the_users_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        written = write_script(tmp_path / "a.scs", "text\n", force=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == 0o640


def test_a_file_that_appeared_meanwhile_is_kept_and_the_script_goes_beside_it(tmp_path):
    out = tmp_path / "a.scs"
    out.write_text("appeared\n")
    (tmp_path / "a-2.scs").write_text("also\n")
    written = write_script(out, "script\n", force=False)
    assert written == tmp_path / "a-3.scs" and written.read_text() == "script\n"
    assert out.read_text() == "appeared\n"


def test_force_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "a.scs"
    out.write_text("old\n")
    assert write_script(out, "new\n", force=True) == out
    assert out.read_text() == "new\n"
    assert [path.name for path in tmp_path.iterdir()] == ["a.scs"]
