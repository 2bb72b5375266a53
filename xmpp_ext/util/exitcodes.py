"""The exit codes of every xmppext command, and the one place outcomes become them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a command's exit status means (also in --help and the README)."""

    OK = 0  # every exchange ended as expected
    FAILED = 1  # some exchange failed: an unexpected error reply, a time-out, a lost reply
    BAD_INPUT = 2  # bad usage or bad input; nothing was sent
    CONNECT = 3  # could not connect, TLS certificate not trusted, authentication failed, connection lost
    INTERRUPTED = 130  # Ctrl-C or SIGTERM; the session was closed politely


#: The table every command's --help shows; commands that cannot end with a code leave its line out.
DESCRIPTIONS = {
    ExitCode.OK: "every exchange ended as expected",
    ExitCode.FAILED: "some exchange failed (unexpected error, time-out, lost reply)",
    ExitCode.BAD_INPUT: "bad usage or bad input; nothing was sent",
    ExitCode.CONNECT: "could not connect, TLS not trusted, authentication failed, or connection lost",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C or SIGTERM",
}


def help_epilog(*codes: ExitCode, **overrides: str) -> str:
    """The "Exit codes:" block of a command's --help: ``codes`` (default: all), wording overridden by name."""
    lines = ["\b", "Exit codes:"]
    for code in codes or tuple(ExitCode):
        text = overrides.get(code.name.lower(), DESCRIPTIONS[code])
        lines.append(f"  {int(code)}  {text}")
    return "\n".join(lines)
