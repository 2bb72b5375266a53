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
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from xmpp_ext.certs import CertificateFiles, generate_certificates
from xmpp_ext.children import die_with_parent, stop_group
from xmpp_ext.secret import Secret

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_GRACE = 5.0


class ServerNotInstalled(RuntimeError):
    """The server program is missing; the message says how to install it."""


class ServerFailed(RuntimeError):
    """The server did not start or died; the message carries the end of its log."""


@dataclass(frozen=True)
class Account:
    jid: str  # bare JID
    password: Secret

    @property
    def localpart(self) -> str:
        return self.jid.split("@", 1)[0]


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class LocalServer(ABC):
    """One private server process; subclasses know how to configure and run it."""

    kind: ClassVar[str]
    program: ClassVar[str]

    def __init__(
        self,
        domain: str = "localhost",
        host: str = LOOPBACK,
        workdir: Path | None = None,
        stanza_size_limit: int | None = None,
        rate_limit: str | None = None,
    ) -> None:
        """``stanza_size_limit`` (bytes) and ``rate_limit`` (e.g. "10kb/s", per client connection)
        replace the server's defaults, to test how clients meet them."""
        if shutil.which(self.program) is None:
            raise ServerNotInstalled(
                f"{self.kind} is not installed ({self.program} not found); "
                "run scripts/setup, or: apt-get install " + self.kind
            )
        self.domain = domain
        self.host = host
        self.stanza_size_limit = stanza_size_limit
        self.rate_limit = rate_limit
        self.port = free_port(host)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"xmppext-{self.kind}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        self.certificates: CertificateFiles = generate_certificates(self.workdir / "certs", domain)
        self.accounts: list[Account] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._console = self.workdir / "console.log"
        self._removed = False
        atexit.register(self.stop)

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
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def add_account(self, localpart: str | None = None, password: str | Secret | None = None) -> Account:
        """Create an account (also while the server runs): a random localpart and password unless given."""
        localpart = localpart or f"user{len(self.accounts) + 1}-{secrets.token_hex(3)}"
        if password is None:
            password = secrets.token_urlsafe(18)
        account = Account(f"{localpart}@{self.domain}", password if isinstance(password, Secret) else Secret(password))
        self._write_account(account)
        self.accounts.append(account)
        return account

    def remove_account(self, account: Account) -> None:
        """Delete ``account`` with everything the server stores for it (roster, ...); its JID can be made again."""
        self._delete_account(account)
        if account in self.accounts:
            self.accounts.remove(account)

    def environment_for(self, account: Account, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with the XMPPEXT_* login of ``account`` here.

        For child processes: the password travels in the environment, never on a command line.
        """
        from xmpp_ext.envvars import login_environment

        return login_environment(
            account.jid, account.password.reveal(), self.host, self.port, self.ca_cert.resolve(), base
        )

    def settings_for(self, account: Account, resource: str | None = None, **overrides: object):
        """The ``ConnectionSettings`` that log in as ``account`` here, TLS verified with this server's CA."""
        from xmpp_ext.client import ConnectionSettings  # imports slixmpp: only when a client is wanted

        values: dict[str, object] = dict(
            jid=f"{account.jid}/{resource}" if resource else account.jid,
            password=account.password,
            host=self.host,
            port=self.port,
            ca_cert=self.ca_cert,
        )
        values.update(overrides)
        return ConnectionSettings(**values)

    def start(self) -> LocalServer:
        if self.running:
            return self
        self._write_config()
        with open(self._console, "ab") as console:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                **self._popen_options(),
                # Its own process group: a server may be a tree of processes
                # (ejabberdctl -> su -> beam), and stopping it must reach all.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._wait_until_ready()
        self._after_start()
        return self

    def stop(self) -> None:
        """Kill the server and remove its dir. Safe to call more than once."""
        self._terminate()
        if not self._removed:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._removed = True
        atexit.unregister(self.stop)

    def kill(self) -> None:
        """Stop the process but keep the dir (config, accounts, logs): ``start()`` brings it back."""
        self._terminate()

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

    def _popen_options(self) -> dict[str, object]:
        """Extra subprocess.Popen arguments (e.g. the user to run as)."""
        return {}

    def _after_start(self) -> None:  # noqa: B027  (a hook: most servers need nothing here)
        """Runs once the port accepts connections (e.g. to create queued accounts)."""

    @property
    def listeners(self) -> set[tuple[str, int]]:
        """Every TCP (address, port) the server is meant to listen on."""
        return {(self.host, self.port)}

    # -- internals ---------------------------------------------------------------

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise ServerFailed(
                    f"{self.kind} exited with status {self._process.returncode} while starting:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return
            if time.monotonic() > deadline:
                self._terminate()
                raise ServerFailed(f"{self.kind} did not listen on {self.host}:{self.port} within {START_TIMEOUT}s")
            time.sleep(0.01)  # nothing to await: the port opening is the only signal

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_group(process, STOP_GRACE)
