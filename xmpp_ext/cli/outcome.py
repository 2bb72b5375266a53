"""The one place where a job's outcome or error becomes an exit code and a line for the user."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import IO, Any, TypeVar

import click

from xmpp_ext.util.exitcodes import ExitCode
from xmpp_ext.util.stopsignals import forget_interrupted_frames

T = TypeVar("T")


class CommandFailed(click.ClickException):
    """An expected failure: one ``Error: ...`` line and the exit code it stands for."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)


class Stopped(click.ClickException):
    """A run ended early by the user (Ctrl-C, SIGTERM): one plain line, no "Error:" prefix."""

    exit_code = int(ExitCode.INTERRUPTED)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.message, err=True)


#: The next step to suggest for each kind of login failure (ConnectError.cause).
CONNECT_HINTS = {
    "unreachable": "is the server running there? (--host/--port, or the JID's domain by DNS SRV)",
    "tls": "for a server with a self-signed certificate, trust its CA with --ca-cert PEM",
    "auth": "check the JID and the password ({password_source})",
    "not-direct-tls": "that port speaks STARTTLS: drop --direct-tls, or give the server's direct TLS --port",
    "reset": "if that is a direct TLS port (XEP-0368), add --direct-tls",
    "timeout": "is that an XMPP client port? (--login-timeout waits longer)",
}


def run_job(job: Coroutine[Any, Any, T]) -> T:
    """Run a job in a fresh event loop; its expected failures become one-line errors with their exit codes."""
    from xmpp_ext.jobs.disco import DiscoError
    from xmpp_ext.jobs.send import NotSupported, ResolveError
    from xmpp_ext.session import ConnectError, patches

    patches.apply()
    try:
        return asyncio.run(job)
    except KeyboardInterrupt as interrupt:
        # asyncio.run has cancelled the job (which closed its session) before re-raising Ctrl-C.
        forget_interrupted_frames(interrupt)
        raise Stopped("interrupted (SIGINT)") from None
    except ConnectError as exc:
        hint = CONNECT_HINTS.get(exc.cause, "").format(password_source=exc.password_source)
        raise CommandFailed(f"{exc}; {hint}" if hint else str(exc), ExitCode.CONNECT) from None
    except (ResolveError, DiscoError, NotSupported) as exc:
        raise CommandFailed(str(exc), ExitCode.FAILED) from None


def exit_code_for_run(result: Any) -> ExitCode:
    """A send run's exit code: how it stopped first (connection lost, interrupted), then whether all went well."""
    from xmpp_ext.jobs.send import StopKind

    if result.stop is not None:
        return ExitCode.CONNECT if result.stop.kind is StopKind.CONNECTION_LOST else ExitCode.INTERRUPTED
    return ExitCode.OK if result.tally.all_ok else ExitCode.FAILED


def exit_code_for_pair_error(error: Any) -> ExitCode:
    """A run-pair that could not run: the responder's own usage (2) and login (3) failures mean the same here;
    a responder never ready is a connection failure; a --terminal program returning early is bad input."""
    from xmpp_ext.jobs.pair import PairFailure

    if error.failure is PairFailure.RESPONDER_EXITED:
        passed_on = (ExitCode.BAD_INPUT, ExitCode.CONNECT)
        return ExitCode(error.child_status) if error.child_status in passed_on else ExitCode.FAILED
    if error.failure is PairFailure.NOT_READY:
        return ExitCode.CONNECT
    if error.failure is PairFailure.TERMINAL_RETURNED:
        return ExitCode.BAD_INPUT
    return ExitCode.FAILED


def exit_code_for_load(totals: Any, crossings: list[str]) -> ExitCode:
    """A load run's exit code: interrupted, then nobody logged in, then thresholds crossed or a worker lost."""
    if totals.interrupted:
        return ExitCode.INTERRUPTED
    if totals.sessions_up == 0:
        return ExitCode.CONNECT
    if crossings or totals.crashed:
        return ExitCode.FAILED
    return ExitCode.OK
