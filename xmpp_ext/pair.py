"""run-pair: a responder and a sender as two child processes, for one-command smoke tests.

Credentials reach the children only through their environment (a command
line is readable by every user through ps and /proc). The children run in
their own process groups, die with this process, and are always stopped
before it returns: on success, on failure, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xmpp_ext.children import die_with_parent, signal_group
from xmpp_ext.envfile import PairCredentials
from xmpp_ext.envvars import login_environment
from xmpp_ext.report import Exchange, Reporter, Status
from xmpp_ext.stopsignals import on_stop_signals

RESPONDER_RESOURCE = "xmppext-pair"
STOP_GRACE = 5.0
EXIT_INTERRUPTED = 130


class PairError(Exception):
    """The pair could not run; ``exit_code`` says why (3: the responder never became ready)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class PairOptions:
    path: Path | None = None
    verbosity: int = 0
    timeout: float = 10.0
    ready_timeout: float = 30.0
    terminal: str | None = None  # e.g. "xterm -e": each client in its own window


def child_environment(jid: str, credentials: PairCredentials, password: str) -> dict[str, str]:
    env = login_environment(jid, password, credentials.host, credentials.port, credentials.ca_cert)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Pair:
    def __init__(self, credentials: PairCredentials, options: PairOptions, echo: Callable[[str], None]) -> None:
        self.credentials = credentials
        self.options = options
        self.echo = echo
        self.summary: dict[str, object] | None = None  # the sender's, once it has printed it
        self.responder_jid = ""
        self.exchanges: list[Exchange] = []
        self._children: list[asyncio.subprocess.Process] = []
        self._responder_tail: list[str] = []
        self._reporter = Reporter(lambda line: echo(f"[sender] {line}"), quiet=options.verbosity < 0)

    # -- commands ----------------------------------------------------------------

    def _common_args(self) -> list[str]:
        args = []
        if self.options.verbosity > 0:
            args.append("--debug")
        elif self.options.verbosity < 0:
            args.append("--quiet")
        if self.credentials.insecure:
            args.append("--insecure")
        return args

    def _command(self, *args: str) -> list[str]:
        command = [sys.executable, "-m", "xmpp_ext", *args, *self._common_args()]
        return command

    # -- running -------------------------------------------------------------------

    async def run(self) -> int:
        main = asyncio.current_task()
        interrupted: list[signal.Signals] = []

        def interrupt(signum: signal.Signals) -> None:
            interrupted.append(signum)
            if main is not None:
                main.cancel()

        try:
            with on_stop_signals(interrupt):
                try:
                    return await self._run_both()
                except asyncio.CancelledError:
                    if not interrupted:
                        raise
                    self.echo(f"interrupted ({interrupted[0].name}): stopping both clients")
                    return EXIT_INTERRUPTED
        finally:
            await asyncio.shield(self._stop_all())

    async def _run_both(self) -> int:
        with tempfile.TemporaryDirectory(prefix="xmppext-pair-") as scratch:
            responder = await self._start_responder(Path(scratch))
            sender = await self._start_sender(Path(scratch))
            sender_done = asyncio.ensure_future(self._wait_sender(sender, Path(scratch)))
            responder_died = asyncio.ensure_future(responder.wait())
            done, _ = await asyncio.wait({sender_done, responder_died}, return_when=asyncio.FIRST_COMPLETED)
            if sender_done in done:
                responder_died.cancel()
                return sender_done.result()
            sender_done.cancel()
            raise PairError(
                f"the responder exited early (status {responder.returncode}) while the sender ran; "
                f"last output: {self._last_output()}"
            )

    async def _start_responder(self, scratch: Path) -> asyncio.subprocess.Process:
        ready_fifo = scratch / "responder-ready"
        os.mkfifo(ready_fifo, 0o600)
        jid = f"{self.credentials.responder_jid}/{RESPONDER_RESOURCE}"
        command = self._command("respond", "-j", jid, "--ready-fifo", str(ready_fifo))
        env = child_environment(jid, self.credentials, self.credentials.responder_password.reveal())
        process = await self._spawn("responder", command, env, scratch)
        # The READY line arrives through a FIFO, so it works the same when the
        # responder's output goes to a terminal window instead of our pipe.
        with FirstLine(ready_fifo) as ready_line:
            ready = asyncio.ensure_future(ready_line.wait())
            exited = asyncio.ensure_future(process.wait())
            await asyncio.wait({ready, exited}, timeout=self.options.ready_timeout, return_when="FIRST_COMPLETED")
            ready.cancel()
            exited.cancel()
            # A responder that wrote READY and then died at once can be seen dead
            # first: what it wrote is still in the FIFO, so read that too.
            line = ready.result() if ready.done() and not ready.cancelled() else ready_line.read_now()
        if line is not None and line.startswith("READY "):
            self.responder_jid = line.split(" ", 1)[1].strip()
            return process
        if process.returncode is not None:
            await asyncio.sleep(0)  # let the output pump print the responder's last lines
            raise PairError(
                f"the responder exited with status {process.returncode} before it was ready; "
                f"last output: {self._last_output()}",
                # Its own usage (2) and login (3) failures mean the same here; a crash or signal is 1.
                exit_code=process.returncode if process.returncode in (2, 3) else 1,
            )
        raise PairError(
            f"the responder was not ready within {self.options.ready_timeout:g}s; last output: {self._last_output()}",
            exit_code=3,
        )

    async def _start_sender(self, scratch: Path) -> asyncio.subprocess.Process:
        jid = self.credentials.sender_jid
        args = ["send", "-t", self.responder_jid, "--timeout", f"{self.options.timeout:g}"]
        if self.options.path is not None:
            args += ["--path", str(self.options.path)]
        if self.options.terminal is None:
            args.append("--json")  # parsed here into lines and the summary table
        env = child_environment(jid, self.credentials, self.credentials.sender_password.reveal())
        return await self._spawn("sender", self._command(*args), env, scratch)

    async def _spawn(
        self, name: str, command: list[str], env: dict[str, str], scratch: Path
    ) -> asyncio.subprocess.Process:
        if self.options.terminal:
            # Record the client's exit status: a terminal emulator does not pass it on.
            env["XMPPEXT_STATUS_FILE"] = str(scratch / f"{name}-status")
            command = [
                *shlex.split(self.options.terminal),
                "sh",
                "-c",
                '"$@"; echo $? > "$XMPPEXT_STATUS_FILE"',
                "sh",
                *command,
            ]
            output = None
        else:
            output = asyncio.subprocess.PIPE
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._children.append(process)
        if output is not None:
            pump = self._pump_sender if name == "sender" else self._pump_responder
            process.pump = asyncio.ensure_future(pump(process.stdout))  # type: ignore[attr-defined]
        return process

    async def _wait_sender(self, sender: asyncio.subprocess.Process, scratch: Path) -> int:
        status = await sender.wait()
        pump = getattr(sender, "pump", None)
        if pump is not None:
            await pump
        if self.options.terminal:
            with contextlib.suppress(OSError, ValueError):
                status = int((scratch / "sender-status").read_text().strip())
        return status

    async def _pump_responder(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            self._responder_tail = [*self._responder_tail[-4:], line]
            self.echo(f"[responder] {line}")

    async def _pump_sender(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            exchange = _parse_exchange(line)
            if exchange is None:
                summary = _parse_summary(line)
                if summary is not None:
                    self.summary = summary
                    self._reporter.summary(summary)
                else:
                    self.echo(f"[sender] {line}")
                continue
            self.exchanges.append(exchange)
            self._reporter.exchange(exchange)

    def _last_output(self) -> str:
        return " | ".join(self._responder_tail) or "(none)"

    async def _stop_all(self) -> None:
        """SIGTERM every child's group, then SIGKILL what is left after the grace period."""
        running = [child for child in self._children if child.returncode is None]
        for child in running:
            signal_group(child.pid, signal.SIGTERM)
        if running:
            _, pending = await asyncio.wait(
                [asyncio.ensure_future(child.wait()) for child in running], timeout=STOP_GRACE
            )
            for child in running:
                if child.returncode is None:
                    signal_group(child.pid, signal.SIGKILL)
            for task in pending:
                await task
        for child in self._children:
            # Whatever the group leader left behind in its group goes too.
            signal_group(child.pid, signal.SIGKILL)
            pump = getattr(child, "pump", None)
            if pump is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await pump


def _parse_exchange(line: str) -> Exchange | None:
    if not line.startswith('{"name"'):
        return None
    try:
        data = json.loads(line)
        latency = data["latency_ms"]
        return Exchange(
            data["name"], Status(data["status"]), data["detail"], None if latency is None else latency / 1000
        )
    except (ValueError, KeyError):
        return None


def _parse_summary(line: str) -> dict[str, object] | None:
    if not line.startswith('{"summary"'):
        return None
    try:
        summary = json.loads(line)["summary"]
    except (ValueError, KeyError):
        return None
    return summary if isinstance(summary, dict) else None


class FirstLine:
    """The first line written to a FIFO, awaited without blocking the event loop."""

    def __init__(self, fifo: Path) -> None:
        self._fifo = fifo
        self._received = bytearray()
        self._line: asyncio.Future[str] | None = None

    def __enter__(self) -> FirstLine:
        self._descriptor = os.open(self._fifo, os.O_RDONLY | os.O_NONBLOCK)
        # A writer of our own keeps the FIFO from reporting end-of-file before the child opens it.
        self._keep_open = os.open(self._fifo, os.O_WRONLY | os.O_NONBLOCK)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._line is not None:
            asyncio.get_running_loop().remove_reader(self._descriptor)
        os.close(self._descriptor)
        os.close(self._keep_open)

    async def wait(self) -> str:
        loop = asyncio.get_running_loop()
        self._line = loop.create_future()
        loop.add_reader(self._descriptor, self._on_readable)
        return await self._line

    def read_now(self) -> str | None:
        """The first line if it has been written by now (no waiting), else None."""
        self._read()
        if b"\n" not in self._received:
            return None
        return self._received.split(b"\n", 1)[0].decode(errors="replace")

    def _on_readable(self) -> None:
        line = self.read_now()
        if line is not None and self._line is not None and not self._line.done():
            self._line.set_result(line)

    def _read(self) -> None:
        with contextlib.suppress(BlockingIOError):  # nothing written yet
            self._received.extend(os.read(self._descriptor, 4096))
