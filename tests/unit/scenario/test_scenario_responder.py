"""``scenario --responder``'s offline parts (xmpp_ext.scenario.responder): the command, and its output kept."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from xmpp_ext.scenario.program import ResponderCommand
from xmpp_ext.scenario.responder import LAST_LINES, MAX_LINE, RunningResponder, take_line


def test_the_command_is_split_like_a_shell_line_and_never_run_by_a_shell():
    command = ResponderCommand.parse("python 'my bot.py' --flag=$HOME", 12)
    assert command.argv == ("python", "my bot.py", "--flag=$HOME")  # no expansion: no shell
    assert command.ready_timeout == 12
    assert command.shown == "python 'my bot.py' '--flag=$HOME'"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the command is empty"), ("python 'x", "cannot be split"), ("/nowhere/bot", "is not a program on PATH")],
)
def test_a_bad_command_is_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        ResponderCommand.parse(text)


def test_output_lines_are_kept_bounded_safe_and_the_first_ready_line_is_noticed():
    async def scenario() -> RunningResponder:
        running = RunningResponder(SimpleNamespace())  # take_line never touches the process
        take_line(running, b"starting\r")
        take_line(running, "\x1b[2Jcleared \u202eevil".encode())
        take_line(running, b"x" * 1000)
        take_line(running, b"READY bot@localhost/a")
        take_line(running, b"READY bot@localhost/b")
        return running

    running = asyncio.run(scenario())
    assert list(running.output)[:2] == ["starting", "\\x1b[2Jcleared \\u202eevil"]
    assert list(running.output)[2] == "x" * (MAX_LINE - 1) + "…"
    assert running.ready_line.result() == "READY bot@localhost/a"

    async def many() -> RunningResponder:
        running = RunningResponder(SimpleNamespace())
        for number in range(LAST_LINES + 5):
            take_line(running, str(number).encode())
        return running

    kept = asyncio.run(many()).output
    assert list(kept) == [str(number) for number in range(5, LAST_LINES + 5)]


def test_only_a_resource_becoming_available_now_is_taken_for_the_program():
    import xml.etree.ElementTree as ET

    from xmpp_ext.scenario.responder import comes_online

    def presence(sender: str, extra: str = "", kind: str = "") -> ET.Element:
        return ET.fromstring(f"<presence xmlns='jabber:client' from='{sender}'{kind}>{extra}</presence>")

    account = "bot@localhost"
    assert comes_online(presence("bot@localhost/new"), account, set())
    # A resource online before: its stored presence, stamped with when it was sent.
    stored = "<delay xmlns='urn:xmpp:delay' stamp='2026-12-06T04:00:38Z' from='localhost'/>"
    assert not comes_online(presence("bot@localhost/old", stored), account, set())
    assert not comes_online(presence("bot@localhost/watch"), account, {"bot@localhost/watch"})
    assert not comes_online(presence("other@localhost/new"), account, set())
    assert not comes_online(presence("bot@localhost/new", kind=" type='unavailable'"), account, set())


def test_a_program_that_ignores_sigterm_is_killed_when_a_second_interrupt_cuts_its_grace_short(tmp_path):
    import asyncio
    import contextlib
    import signal
    import sys

    from xmpp_ext.scenario.responder import RunningResponder, _stop

    asked = tmp_path / "asked-to-stop"
    stubborn = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: pathlib.Path(sys.argv[1]).write_text('no'))\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )

    async def scenario() -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", stubborn, str(asked), stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        await process.stdout.readline()  # its SIGTERM handler is in place
        stopping = asyncio.ensure_future(_stop(RunningResponder(process)))
        while not asked.exists():  # written by the other process: nothing to await (bounded below)
            await asyncio.sleep(0.01)
        stopping.cancel()  # what a second Ctrl-C or SIGTERM does to the run
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
        return await asyncio.wait_for(process.wait(), 5)

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == -signal.SIGKILL
