"""What every throwaway local server shares: temp dir, certificate, port, process group, accounts.

Each server lives in its own temp dir with its own config, a freshly generated
CA and certificate (clients verify TLS against that CA), accounts with random
passwords, no server-to-server or HTTP ports, and its logs. ``stop()`` (also
run at interpreter exit, and the kernel kills the server if this process dies
first) kills it and removes the dir.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from xmpp_ext.servers.certs import CertificateFiles, generate_certificates
from xmpp_ext.servers.listeners import listening_sockets, owned_and_foreign
from xmpp_ext.util.children import (
    die_with_parent,
    group_members,
    identity_alive,
    oldest_child,
    process_identity,
    stop_group,
)
from xmpp_ext.util.reaper import reaper_command
from xmpp_ext.util.secret import Secret

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_GRACE = 5.0
#: Seconds a restart waits for a listener on its ports that is not its own to go, before failing.
RESTART_PATIENCE = 1.0
# How many sets of fresh ports a first start tries when another process took ours.
PORT_ATTEMPTS = 5
WORKDIR_PREFIX = "xmppext-"
#: In each server's dir: which process owns it (pid and start time), so a later run can tell a dead owner's dir.
OWNER_FILE = "owner"


class ServerNotInstalled(RuntimeError):
    """The server program is missing; the message says how to install it."""


class ServerFailed(RuntimeError):
    """The server did not start or died; the message carries the end of its log."""


class PortTaken(RuntimeError):
    """Another process listens on a port the server was to use (it was free when chosen)."""


@dataclass(frozen=True)
class Account:
    jid: str  # bare JID
    password: Secret

    @property
    def localpart(self) -> str:
        return self.jid.split("@", 1)[0]


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (on the main thread, the one that handles them) for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _server_child_setup() -> None:
    """In the server's process before exec: the stop signals held by ``_spawn`` are the server's to handle."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    die_with_parent()


def remove_stale_workdirs(directory: Path | None = None) -> list[Path]:
    """Remove the servers' dirs in ``directory`` (default: the temp dir) whose owner process has ended.

    Only dirs with an OWNER_FILE naming a process that is gone (its reaper normally removes them: this is
    for what a reaper killed too, or a crash before the server started, left behind); dirs of other users
    are left alone unless we are root. Returns what was removed.
    """
    removed = []
    for candidate in Path(directory or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            if candidate.is_symlink() or not candidate.is_dir():
                continue
            if os.getuid() != 0 and candidate.stat().st_uid != os.getuid():
                continue
            owner = (candidate / OWNER_FILE).read_text()[:100]
        except OSError:
            continue  # no owner recorded (another version's, or being made right now): not ours to judge
        if not identity_alive(owner):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class XmppServer(ABC):
    """Any server tests log in to: its address, its CA, and accounts that come and go.

    LocalServer starts its own; ExternalServer (servers/external.py) describes
    one someone else runs. Fixtures and helpers use only what is defined here.
    """

    kind: ClassVar[str]
    domain: str
    host: str
    port: int
    accounts: list[Account]

    @property
    @abstractmethod
    def ca_cert(self) -> Path | None:
        """The CA file clients verify the server's certificate with (None: the system's CAs)."""

    @abstractmethod
    def add_account(self, localpart: str | None = None, password: str | Secret | None = None) -> Account:
        """A fresh account to log in with; random localpart and password unless given."""

    @abstractmethod
    def remove_account(self, account: Account) -> None:
        """Delete ``account`` with what the server stores for it (or make it unusable to later tests)."""

    @property
    def log_path(self) -> Path | None:
        """The server's log file (None when the server is not ours)."""
        return None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure reports ("" when the server is not ours)."""
        return ""

    def environment_for(self, account: Account, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with the XMPPEXT_* login of ``account`` here.

        For child processes: the password travels in the environment, never on a command line.
        """
        from xmpp_ext.util.envvars import login_environment

        ca_cert = self.ca_cert.resolve() if self.ca_cert else None
        return login_environment(account.jid, account.password.reveal(), self.host, self.port, ca_cert, base)

    @property
    def ports(self) -> list[int]:
        """Every client port (STARTTLS) clients log in at: one here, one a node in a cluster (servers/cluster.py)."""
        return [self.port]

    def wait_until_routable(self, full_jid: str, timeout: float = 0.0) -> None:
        """Return once the server can route stanzas to the session ``full_jid``: one server can as soon as the
        session has started (a cluster's nodes learn of it a moment later: servers/cluster.py)."""
        return None

    def routable_wait(self, failure: Callable[[str], Exception]) -> Callable[[str], None]:
        """``wait_until_routable`` for a job to call, the server's ServerFailed raised as ``failure(message)``:
        the job's own error (a scenario's ConnectError, run-pair's PairError), with the server's one line."""

        def until_routable(full_jid: str) -> None:
            try:
                self.wait_until_routable(full_jid)
            except ServerFailed as exc:
                raise failure(str(exc)) from None

        return until_routable

    def settings_for(self, account: Account, resource: str | None = None, **overrides: object):
        """The ``ConnectionSettings`` that log in as ``account`` here, TLS verified with this server's CA."""
        from xmpp_ext.session import ConnectionSettings  # imports slixmpp: only when a client is wanted

        values: dict[str, object] = dict(
            jid=f"{account.jid}/{resource}" if resource else account.jid,
            password=account.password,
            host=self.host,
            port=self.port,
            ca_cert=self.ca_cert,
        )
        values.update(overrides)
        return ConnectionSettings(**values)


def new_account(domain: str, localpart: str | None, password: str | Secret | None, number: int) -> Account:
    """An Account at ``domain``: a random localpart (``user<number>-<hex>``) and password unless given."""
    localpart = localpart or f"user{number}-{secrets.token_hex(3)}"
    if password is None:
        password = secrets.token_urlsafe(18)
    return Account(f"{localpart}@{domain}", password if isinstance(password, Secret) else Secret(password))


class LocalServer(XmppServer):
    """One private server process; subclasses know how to configure and run it."""

    program: ClassVar[str]

    def __init__(
        self,
        domain: str = "localhost",
        host: str = LOOPBACK,
        workdir: Path | None = None,
        stanza_size_limit: int | None = None,
        rate_limit: str | None = None,
        for_load: bool = False,
    ) -> None:
        """``stanza_size_limit`` (bytes) and ``rate_limit`` (e.g. "10kb/s", per client connection)
        replace the server's defaults, to test how clients meet them. ``for_load``: configured for
        thousands of sessions (``xmppext load --local``): no per-connection log lines, a deep listen
        queue, no limit on connections or their rate, so the server's own work is what is measured."""
        if shutil.which(self.program) is None:
            raise ServerNotInstalled(
                f"{self.kind} is not installed (no {self.program} on PATH): sudo apt-get install {self.kind} "
                "on Debian or Ubuntu (in xmppext's checkout, scripts/setup installs it)"
            )
        self.domain = domain
        self.host = host
        self.stanza_size_limit = stanza_size_limit
        self.rate_limit = rate_limit
        self.for_load = for_load
        self.port = 0
        self.direct_tls_port = 0
        self._choose_ports()
        self._started_before = False
        self.accounts: list[Account] = []
        self._process: subprocess.Popen[bytes] | None = None  # the reaper, which runs the server
        self._owner_pipe: int | None = None  # its write end: closed by our end, however we end, for the reaper
        self._removed = False
        # Made and registered for removal in one step: Ctrl-C or SIGTERM in between would leave the dir behind.
        # (The sweep too: the first use of the temp dir probes it with a file that an interruption would leave.)
        with _stop_signals_held():
            if workdir is None:
                remove_stale_workdirs()
            self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{self.kind}-"))
            atexit.register(self.stop)
            (self.workdir / OWNER_FILE).write_text(process_identity() + "\n")
        self._console = self.workdir / "console.log"
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.workdir.chmod(0o700)
            self.certificates: CertificateFiles = generate_certificates(self.workdir / "certs", domain)
        except BaseException:
            self.stop()
            raise

    # -- what callers use --------------------------------------------------------

    @property
    def ca_cert(self) -> Path:
        return self.certificates.ca_cert

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def process_group(self) -> int | None:
        """The process group of the server's processes (led by its reaper), None when it is not running."""
        return self._process.pid if self._process else None

    @property
    def process_groups(self) -> list[int]:
        """Every process group of the server: its one, or none when it is not running (a cluster has several)."""
        return [self.process_group] if self.process_group else []

    @property
    def pid(self) -> int | None:
        """The server's own process (its reaper's child), None when it is not running."""
        return oldest_child(self._process.pid) if self._process else None

    def add_account(self, localpart: str | None = None, password: str | Secret | None = None) -> Account:
        """Create an account (also while the server runs): a random localpart and password unless given."""
        account = new_account(self.domain, localpart, password, len(self.accounts) + 1)
        self._write_account(account)
        self.accounts.append(account)
        return account

    def add_accounts(self, localparts: Sequence[str], password: Secret) -> list[Account]:
        """Many accounts sharing ``password``, made in bulk (also while the server runs), for load runs.

        Each server has a bulk path (no process and no TLS login per account);
        10,000 accounts take a few seconds.
        """
        accounts = [Account(f"{localpart}@{self.domain}", password) for localpart in localparts]
        self._write_accounts(accounts)
        self.accounts.extend(accounts)
        return accounts

    def remove_account(self, account: Account) -> None:
        """Delete ``account`` with everything the server stores for it (roster, ...); its JID can be made again."""
        self._delete_account(account)
        if account in self.accounts:
            self.accounts.remove(account)

    def start(self) -> LocalServer:
        """Start the server and wait until it listens; on its first start, on fresh ports if ours were taken.

        A port found free by binding it is free only until someone else binds
        it: another pytest-xdist worker's server may get the same one. So the
        wait checks that the listener is our own process's, and the first start
        moves to new ports when it is not. A restart keeps its ports (clients
        reconnect there) and fails instead.
        """
        if self.running:
            return self
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._write_config()
            self._spawn()
            try:
                self._wait_until_ready()
            except PortTaken as taken:
                self._terminate()
                if self._started_before or attempt == PORT_ATTEMPTS:
                    raise ServerFailed(f"{self.kind} could not listen: {taken}") from None
                self._choose_ports()
                continue
            break
        self._started_before = True
        self._after_start()
        return self

    def _spawn(self) -> None:
        """Start the server under a reaper (util/reaper.py) that ends its whole tree when we end, however we end."""
        # The reaper waits for end-of-file on this pipe; only we hold its write end (not inherited by anything).
        reaper_end, owner_end = os.pipe()
        try:
            # Ctrl-C or SIGTERM arriving between the fork and the assignment below would leave a server nobody
            # knows to stop: hold them until self._process is set (their handlers run right after).
            with open(self._console, "ab") as console, _stop_signals_held():
                self._process = subprocess.Popen(
                    reaper_command(self._command(), reaper_end, self.workdir, self._run_as()),
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    env=self._environment(),
                    pass_fds=(reaper_end,),
                    # Its own process group, which the server's processes share: stopping it must reach all.
                    start_new_session=True,
                    # The kernel signals the reaper when the *thread* that started it ends: start servers from
                    # a thread that lives as long as they should (pytest's main thread for the fixtures).
                    preexec_fn=_server_child_setup,
                )
                self._owner_pipe, owner_end = owner_end, None
        finally:
            os.close(reaper_end)
            if owner_end is not None:
                os.close(owner_end)

    def stop(self) -> None:
        """Kill the server and remove its dir. Safe to call more than once."""
        self._terminate()
        if not self._removed:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._removed = True
        atexit.unregister(self.stop)

    def kill(self) -> None:
        """Stop the process but keep the dir (config, accounts, logs): ``start()`` brings it back.

        Returns once nothing listens on the server's addresses any more (at most ``STOP_GRACE`` seconds): the
        last process of a stopping server can hold its listeners a moment after the group's leader has been
        reaped, and a restart at once would take its own old listener for another process's.
        """
        self._terminate()
        deadline = time.monotonic() + STOP_GRACE
        while self.listeners & set(listening_sockets()) and time.monotonic() < deadline:
            time.sleep(0.02)  # nothing to await: the port closing is the only signal

    def restart(self) -> None:
        self.kill()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log and console, for error reports."""
        text = []
        for path in (self._console, self.log_path):
            with contextlib.suppress(OSError):
                text.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(text[-lines:])

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.domain} on {self.host}:{self.port}>"

    # -- subclass hooks ----------------------------------------------------------

    @abstractmethod
    def _command(self) -> list[str]: ...

    @abstractmethod
    def _write_config(self) -> None: ...

    @abstractmethod
    def _write_account(self, account: Account) -> None: ...

    @abstractmethod
    def _delete_account(self, account: Account) -> None: ...

    def _run_as(self) -> tuple[int, int] | None:
        """(uid, gid) the server runs as; None: as we do."""
        return None

    def _environment(self) -> dict[str, str] | None:
        """The server's environment; None: ours."""
        return None

    def _write_accounts(self, accounts: Sequence[Account]) -> None:
        """Create ``accounts`` (one password); servers with a bulk path override this."""
        for account in accounts:
            self._write_account(account)

    def _after_start(self) -> None:  # a hook: most servers need nothing here
        """Runs once the port accepts connections (e.g. to create queued accounts)."""

    @property
    def listeners(self) -> set[tuple[str, int]]:
        """Every TCP (address, port) the server is meant to listen on: the client ports, STARTTLS and direct TLS."""
        return {(self.host, self.port), (self.host, self.direct_tls_port)}

    # -- internals ---------------------------------------------------------------

    def _choose_ports(self) -> None:
        """Pick free ports for every listener (subclasses with more listeners extend this)."""
        self.port = free_port(self.host)
        # XEP-0368: TLS from the first byte, for clients that connect with --direct-tls.
        self.direct_tls_port = free_port(self.host)

    def _wait_until_ready(self) -> None:
        """Return once our own process listens on every address in ``listeners``.

        Raises PortTaken when another process holds one of them, ServerFailed
        when the server exits or does not listen in time.
        """
        deadline = time.monotonic() + START_TIMEOUT
        foreign_since: float | None = None
        first_foreign: set[tuple[str, int]] = set()
        while True:
            process = self._process
            members = group_members(process.pid) if process is not None else []
            owned, foreign = owned_and_foreign(self.listeners, members)
            if owned == self.listeners:
                return
            exited = process is not None and process.poll() is not None
            waited = 0.0 if foreign_since is None else time.monotonic() - foreign_since
            if not foreign:
                foreign_since = None
            elif exited or not self._started_before or waited > RESTART_PATIENCE:
                # Named: what was foreign from the start (a server exiting on it may show its own last listeners).
                taken = ", ".join(f"{host}:{port}" for host, port in sorted((first_foreign & foreign) or foreign))
                raise PortTaken(f"{taken} already in use by another process")
            elif foreign_since is None:
                # A restart keeps its ports, so it cannot move: a listener that looks foreign for a moment (our
                # own old one going, seen once in CI under load) is given RESTART_PATIENCE to go.
                foreign_since, first_foreign = time.monotonic(), foreign
            if exited:
                raise ServerFailed(
                    f"{self.kind} exited with status {process.returncode} while starting:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self._terminate()
                raise ServerFailed(f"{self.kind} did not listen on {self.host}:{self.port} within {START_TIMEOUT}s")
            time.sleep(0.02)  # nothing to await: the port opening is the only signal

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_group(process, STOP_GRACE)
        if self._owner_pipe is not None:  # only now: seeing it closed, a reaper would remove the dir
            os.close(self._owner_pipe)
            self._owner_pipe = None
