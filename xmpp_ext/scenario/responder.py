"""``--responder CMD``: the program under test, started beside each script run with an account of its own.

For every script on every server:

* the program is started (no shell: ``CMD`` is split like a shell line) in its
  own process group, with its login in the ``XMPPEXT_*`` variables every
  xmppext command reads (``XMPPEXT_JID``, ``XMPPEXT_PASSWORD``,
  ``XMPPEXT_HOST``, ``XMPPEXT_PORT``, ``XMPPEXT_CA_CERT``);
* it is online once the server routes its available presence (seen by a
  watcher logged in to the same account, which the server tells about every
  resource of its own account, RFC 6121 §4.2.2; the watcher's negative priority
  keeps messages to the bare JID away from it; resources online before the
  program started do not count), or once it prints a line starting with
  ``READY``, whichever comes first, within ``ready_timeout``;
* the script then runs with ``${env:XMPPEXT_SCENARIO_RESPONDER}`` set to the
  program's full JID;
* afterwards the program's group gets SIGTERM, and SIGKILL after
  ``STOP_GRACE`` seconds. A program that exits on its own during the script
  makes the run an ERROR, with its last output. If xmppext itself is killed
  (SIGKILL: no grace period of its own), the kernel kills the program.

The program's output is kept (the last ``LAST_LINES`` lines, each clipped and
made safe for a terminal) to explain a program that never came online or died.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

from slixmpp.xmlstream import ET

from xmpp_ext.scenario.clients import ScenarioClient
from xmpp_ext.scenario.program import ResponderCommand
from xmpp_ext.scenario.runner import Endpoint, ScriptResult, StepResult, StepStatus, ping_server, run_script
from xmpp_ext.scenario.script import Script
from xmpp_ext.scenario.xmlblock import CLIENT_NS
from xmpp_ext.session import ConnectError, ConnectionSettings
from xmpp_ext.util import envvars
from xmpp_ext.util.children import group_members, killed_with_parent, signal_group
from xmpp_ext.util.display import printable

#: The variable a script addresses the program under test with: its full JID, once online.
RESPONDER_VARIABLE = envvars.SCENARIO_RESPONDER
STOP_GRACE = 5.0
LAST_LINES = 20
MAX_LINE = 300  # characters of one output line kept
READ_CHUNK = 4096
#: After the group is killed, how long its output may take to end (a grandchild that left the group can hold it).
PUMP_GRACE = 1.0
#: XEP-0203: a stanza delivered later than it was sent carries its original time.
DELAY_NS = "urn:xmpp:delay"


class ResponderError(Exception):
    """The program could not be started, or did not come online: one line, with its last output."""


@dataclass(frozen=True)
class ResponderLogin:
    """The program's own account: how it logs in (and the watcher with it) and the environment that says so."""

    settings: ConnectionSettings
    environment: Mapping[str, str] = field(repr=False)

    @classmethod
    def of_account(cls, jid: str, password, host=None, port=None, ca_cert=None, insecure=False) -> ResponderLogin:
        """The login of the account ``jid`` (``password`` a Secret) at ``host``:``port``, trusting ``ca_cert``."""
        settings = ConnectionSettings(
            jid=jid, password=password, host=host, port=port, ca_cert=ca_cert, insecure=insecure
        )
        return cls(settings, envvars.login_environment(jid, password.reveal(), host, port, ca_cert))


@dataclass
class RunningResponder:
    """The started program: its process, what it said last, and (once online) its full JID."""

    process: asyncio.subprocess.Process
    output: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES))
    jid: str = ""
    ready_line: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    pump: asyncio.Task[None] | None = None
    on_line: Callable[[str], None] | None = None  # hears every line as it is kept (run-pair shows them)

    def last_output(self) -> str:
        return " | ".join(self.output) or "(no output)"

    async def exit_status(self) -> int | None:
        """The program's exit status if it has ended by now, else None (never waits for a running one).

        The kernel knows first: a leader gone from its live process group has
        exited even when asyncio has not reaped it yet.
        """
        if self.process.returncode is None and self.process.pid in group_members(self.process.pid):
            return None
        status = await self.process.wait()
        await self.output_read()
        return status

    async def output_read(self) -> None:
        """Until the pump has read what the program wrote (bounded: a grandchild may hold the pipe open)."""
        if self.pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                # Clean-up: going on after a cancellation is what it is for.
                await asyncio.wait_for(asyncio.shield(self.pump), PUMP_GRACE)  # noqa: TID251


async def run_script_with_responder(
    script: Script,
    endpoint: Endpoint,
    server: str,
    timeout: float,
    environ: Mapping[str, str],
    responder: ResponderCommand,
    login: ResponderLogin,
    deadline: float | None = None,
) -> ScriptResult:
    """``script`` run while ``responder`` runs as ``login``'s account; its trouble is an ERROR of the run.

    ``deadline``: the whole run's time limit, as ``run_script`` takes it."""
    first_line = min(spec.line for spec in script.clients.values())
    try:
        async with responder_running(responder, login) as running:
            environ = {**environ, RESPONDER_VARIABLE: running.jid}
            result = await run_script(script, endpoint, server, timeout, environ, deadline)
            result.aliases[running.jid] = f"${{env:{RESPONDER_VARIABLE}}}"
            result.aliases[running.jid.split("/", 1)[0]] = "the responder's bare JID"
            status = await running.exit_status()
            if status is not None:
                message = (
                    f"{responder.shown} exited with status {status} during the script; "
                    f"its last output: {running.last_output()}"
                )
                result.steps.append(StepResult(first_line, "responder", StepStatus.ERROR, message=message))
            return result
    except ResponderError as exc:
        return ScriptResult(
            script, server, [StepResult(first_line, "start responder", StepStatus.ERROR, message=str(exc))]
        )


@asynccontextmanager
async def responder_running(
    responder: ResponderCommand, login: ResponderLogin, on_line: Callable[[str], None] | None = None
) -> AsyncIterator[RunningResponder]:
    """The program started and online for the duration of the block, then stopped (its whole process group).

    ``on_line`` hears each line of its output (clipped, safe to print) as it comes."""
    account = login.settings.jid.bare
    watcher_settings = replace(login.settings, jid=f"{account}/xmppext-watch-{secrets.token_hex(4)}")
    watcher = ScenarioClient(watcher_settings)
    running: RunningResponder | None = None
    try:
        try:
            await watcher.start()
        except ConnectError as exc:
            raise ResponderError(f"cannot watch for the responder's presence: {exc}") from None
        deadline = asyncio.get_running_loop().time() + responder.ready_timeout
        # Negative priority: the server never hands the watcher a message meant for the account's bare JID.
        watcher.send_raw("<presence><priority>-1</priority></presence>")
        # The server handles a client's stanzas in order: once it answers the ping, the watcher is available.
        if await ping_server(watcher, deadline) is None:
            raise ResponderError("cannot watch for the responder's presence: the server did not answer a ping")
        # Resources of the account online already (say, a responder someone started by hand) are not the program.
        others = {stanza.get("from") for _arrived, stanza in watcher.inbox if _is_presence(stanza)}
        running = await _spawn(responder, login, on_line)
        running.jid = await _online(
            running, responder, watcher, account, deadline, ignore={str(watcher.boundjid), *others}
        )
    except BaseException:
        if running is not None:
            await _stop(running)
        raise
    finally:
        await watcher.stop()
    try:
        yield running
    finally:
        await _stop(running)


async def _spawn(
    responder: ResponderCommand, login: ResponderLogin, on_line: Callable[[str], None] | None = None
) -> RunningResponder:
    # Unbuffered: a Python program's READY line must reach the pipe when it is printed, not at exit.
    environment = {**login.environment, "PYTHONUNBUFFERED": "1"}
    try:
        process = await asyncio.create_subprocess_exec(
            *responder.argv,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=responder.cwd,
            start_new_session=True,  # its own group: stopping it reaches whatever it started
            preexec_fn=killed_with_parent,  # xmppext killed: the program too, even if it ignores SIGTERM
        )
    except OSError as exc:
        raise ResponderError(f"cannot start {responder.shown}: {exc.strerror or exc}") from None
    running = RunningResponder(process, on_line=on_line)
    running.pump = asyncio.ensure_future(_pump(running))
    return running


def _is_presence(stanza: ET.Element) -> bool:
    return stanza.tag == f"{{{CLIENT_NS}}}presence" and stanza.get("type") in (None, "available")


def comes_online(stanza: ET.Element, account: str, ignore: set[str]) -> bool:
    """Whether ``stanza`` is a resource of ``account`` becoming available now (not one in ``ignore``).

    A resource that was online before the watcher is told of by its stored last presence, which both
    Prosody and ejabberd stamp with a XEP-0203 delay; ejabberd sends it a moment after the watcher's own
    presence (through that resource's session), so it can come after the ping that the snapshot of the
    resources online waits for. A program coming online later broadcasts its presence as it sends it,
    without a delay.
    """
    sender = stanza.get("from") or ""
    return (
        _is_presence(stanza)
        and sender.startswith(f"{account}/")
        and sender not in ignore
        and stanza.find(f"{{{DELAY_NS}}}delay") is None
    )


async def _online(
    running: RunningResponder,
    responder: ResponderCommand,
    watcher: ScenarioClient,
    account: str,
    deadline: float,
    ignore: set[str],
) -> str:
    """The program's full JID once it is online; ResponderError if it exits or time runs out first."""

    presence = asyncio.ensure_future(watcher.wait_for(lambda stanza: comes_online(stanza, account, ignore), deadline))
    exited = asyncio.ensure_future(running.process.wait())
    try:
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        await asyncio.wait({presence, exited, running.ready_line}, timeout=remaining, return_when="FIRST_COMPLETED")
    finally:
        for task in (presence, exited):
            task.cancel()
    if presence.done() and not presence.cancelled() and presence.result() is not None:
        return presence.result().get("from")
    if running.process.returncode is not None:
        await running.output_read()  # a READY line written just before it exited counts: it was online
    if running.ready_line.done():
        words = running.ready_line.result().split()
        return words[1] if len(words) > 1 and words[1].startswith(f"{account}/") else account
    if running.process.returncode is not None:
        raise ResponderError(
            f"{responder.shown} exited with status {running.process.returncode} before it was online; "
            f"its last output: {running.last_output()}"
        )
    raise ResponderError(
        f"{responder.shown} was not online within {responder.ready_timeout:g}s (no available presence from "
        f"{account}, no READY line); its last output: {running.last_output()}"
    )


async def _pump(running: RunningResponder) -> None:
    """Keep the program's last lines (bounded, safe to print) and notice its READY line."""
    stream = running.process.stdout
    assert stream is not None
    partial = b""
    while chunk := await stream.read(READ_CHUNK):
        *lines, partial = (partial + chunk).split(b"\n")
        partial = partial[: MAX_LINE * 4]  # a line without end is kept only as far as it is shown
        for raw in lines:
            take_line(running, raw)
    if partial:
        take_line(running, partial)


def take_line(running: RunningResponder, raw: bytes) -> None:
    """One line of the program's output: kept (clipped, safe to print), and noticed if it is its READY line."""
    line = raw.decode(errors="replace").rstrip("\r")
    shown = printable(line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…")
    running.output.append(shown)
    if running.on_line is not None:
        running.on_line(shown)
    if line.startswith("READY") and not running.ready_line.done():
        running.ready_line.set_result(line)


async def _stop(running: RunningResponder) -> None:
    """SIGTERM to the program's group, SIGKILL to what is left of it after ``STOP_GRACE`` seconds."""
    process = running.process
    try:
        if process.returncode is None:
            signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_GRACE)  # noqa: TID251  (clean-up: goes on after a cancellation)
    finally:
        # The leader's leftovers in its group too; and at once when a second Ctrl-C or SIGTERM cuts the grace
        # short (the program is in a group of its own: the terminal's Ctrl-C never reaches it).
        signal_group(process.pid, signal.SIGKILL)
    await process.wait()
    await running.output_read()
    if running.pump is not None:
        running.pump.cancel()
