"""``xmppext scenario`` and the files it is given: scripts and --junit only when regular, reports written whole.

A FIFO would block the command for ever (reading a script, or writing the
report with nobody reading): these tests carry a time-out of their own, so
on a command that waits they fail instead of hanging.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from xmpp_ext.cli.scenario import command
from xmpp_ext.servers import free_port
from xmpp_ext.util.exitcodes import ExitCode
from xmpp_ext.util.files import ReplacingFile

pytestmark = pytest.mark.timeout(30)

# One client that cannot connect (nothing listens on its port): a run that ends at once, with exit 3.
UNREACHABLE = "# Unreachable\n## smoke\n[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n-----\nRomeo connects\n"


def invoke(*args: str):
    return CliRunner().invoke(command, list(args), env={}, catch_exceptions=False)


def unreachable(tmp_path: Path) -> tuple[Path, list[str]]:
    script = tmp_path / "unreachable.scs"
    script.write_text(UNREACHABLE)
    return script, ["--host", "127.0.0.1", "--port", str(free_port())]


def test_a_fifo_given_as_a_script_is_refused(tmp_path):
    fifo = tmp_path / "script.scs"
    os.mkfifo(fifo)
    result = invoke(str(fifo))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.output == f"Error: {fifo}:0: the script is a FIFO (named pipe), not a regular file\n"


def test_a_fifo_found_in_a_directory_is_refused_and_nothing_runs(tmp_path):
    _script, where = unreachable(tmp_path)
    os.mkfifo(tmp_path / "waiting.scs")
    result = invoke(str(tmp_path), *where)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert (
        result.output == f"Error: {tmp_path / 'waiting.scs'}:0: the script is a FIFO (named pipe), not a regular file\n"
    )


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_junit_that_is_not_a_regular_file_is_refused_before_any_script_runs(tmp_path, kind):
    script, where = unreachable(tmp_path)
    if kind == "fifo":
        target, shown = tmp_path / "report.xml", "FIFO (named pipe)"
        os.mkfifo(target)
    else:
        target, shown = Path("/dev/full"), "character device"
    result = invoke(str(script), *where, "--junit", str(target))
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert result.output == f"Error: --junit {target}: is a {shown}, not a regular file\n"


def test_junit_through_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    script, where = unreachable(tmp_path)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    link = tmp_path / "link.xml"
    link.symlink_to(precious)
    result = invoke(str(script), *where, "--junit", str(link))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.output == f"Error: --junit {link}: is a symbolic link; xmppext does not write through links\n"
    assert precious.read_text() == "keep me\n" and link.is_symlink()


def test_junit_where_nothing_can_be_written_is_refused_before_any_script_runs(tmp_path):
    script, where = unreachable(tmp_path)
    target = Path("/proc/report.xml")  # not writable even by root
    result = invoke(str(script), *where, "--junit", str(target))
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert result.output.startswith(f"Error: --junit {target}: cannot write in /proc (")
    assert "Romeo connects" not in result.output


def test_the_report_replaces_the_old_one_whole_and_leaves_no_temporary_file(tmp_path):
    script, where = unreachable(tmp_path)
    report = tmp_path / "out" / "report.xml"
    report.parent.mkdir()
    report.write_text("old report\n")
    old_inode = report.stat().st_ino
    result = invoke(str(script), *where, "--junit", str(report))
    assert result.exit_code == ExitCode.CONNECT, result.output
    assert report.stat().st_ino != old_inode  # a new file renamed over the old, not the old one rewritten
    assert ElementTree.parse(report).getroot().get("errors") == "1"
    assert [path.name for path in report.parent.iterdir()] == ["report.xml"]
    assert oct(report.stat().st_mode & 0o777) == "0o644"


def test_a_report_that_cannot_be_written_after_the_run_keeps_the_old_one(tmp_path, monkeypatch):
    def disk_full(self, data):
        self.discard()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ReplacingFile, "commit", disk_full)
    script, where = unreachable(tmp_path)
    report = tmp_path / "report.xml"
    report.write_text("old report\n")
    # Every script skipped: the run itself is a success, the report's failure makes it exit 1 (not 2: it ran).
    result = invoke(str(script), *where, "--skip-tags", "smoke", "--junit", str(report))
    assert result.exit_code == ExitCode.FAILED, result.output
    assert (
        result.output.splitlines()[-1]
        == f"Error: --junit {report}: the report could not be written (No space left on device)"
    )
    assert report.read_text() == "old report\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.xml", "unreachable.scs"]


def test_replacing_file_commit_and_discard(tmp_path):
    target = tmp_path / "file.txt"
    with ReplacingFile(target) as replacement:
        assert not target.exists() and len(list(tmp_path.iterdir())) == 1  # the new file, under another name
        replacement.commit(b"whole\n")
    assert target.read_bytes() == b"whole\n" and list(tmp_path.iterdir()) == [target]
    with ReplacingFile(target):
        pass  # never committed: nothing changes
    assert target.read_bytes() == b"whole\n" and list(tmp_path.iterdir()) == [target]


def test_replacing_a_symlink_replaces_the_link_not_its_target(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    link = tmp_path / "link.txt"
    link.symlink_to(precious)
    with ReplacingFile(link) as replacement:
        replacement.commit(b"new\n")
    assert precious.read_text() == "keep me\n"
    assert not link.is_symlink() and link.read_bytes() == b"new\n"
