"""Throwaway XMPP servers on loopback, for tests, scripts and ``run-pair --local``.

Each server lives in its own temp dir with its own config, a freshly generated
CA and certificate (clients verify TLS against that CA), accounts with random
passwords, no server-to-server or HTTP ports, and its logs. ``stop()`` (also
run at interpreter exit, and the kernel kills the server if this process dies
first) kills it and removes the dir.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from xmpp_ext.certs import CertificateFiles, generate_certificates
from xmpp_ext.children import die_with_parent
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

    def add_account(self, localpart: str | None = None) -> Account:
        """Create an account with a random password (also while the server runs)."""
        localpart = localpart or f"user{len(self.accounts) + 1}-{secrets.token_hex(3)}"
        account = Account(f"{localpart}@{self.domain}", Secret(secrets.token_urlsafe(18)))
        self._write_account(account)
        self.accounts.append(account)
        return account

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
                preexec_fn=die_with_parent,
            )
        self._wait_until_ready()
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
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _lua_string(value: str | Path) -> str:
    """A Lua string literal (the values we write are paths, hosts and hex)."""
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _prosody_encode(name: str) -> str:
    """Prosody's datamanager path encoding: every non-alphanumeric byte as %xx."""
    return "".join(
        char if char.isascii() and char.isalnum() else "".join(f"%{b:02x}" for b in char.encode()) for char in name
    )


class ProsodyServer(LocalServer):
    """Prosody (Debian's package, 0.12) run in the foreground from a private config."""

    kind = "prosody"
    program = "prosody"
    # Prosody's own default for stored SCRAM credentials.
    ITERATIONS = 10000

    def _command(self) -> list[str]:
        return [self.program, "-F", "--config", str(self.workdir / "prosody.cfg.lua")]

    def _write_config(self) -> None:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        limits = ""
        if self.stanza_size_limit is not None:
            limits += f"c2s_stanza_size_limit = {int(self.stanza_size_limit)}\n"
        modules = '"roster"; "saslauth"; "tls"; "disco"; "ping"; "version"; "time"; "uptime"'
        if self.rate_limit is not None:
            modules += '; "limits"'
            limits += f"limits = {{ c2s = {{ rate = {_lua_string(self.rate_limit)}; burst = '1s' }} }}\n"
        ssl = f"{{ certificate = {_lua_string(self.certificates.cert)}; key = {_lua_string(self.certificates.key)}; }}"
        config = f"""-- Generated by xmpp_ext.localserver for one throwaway run.
run_as_root = true
pidfile = {_lua_string(self.workdir / "prosody.pid")}
data_path = {_lua_string(data)}
admin_socket = {_lua_string(self.workdir / "admin.sock")}
log = {{ info = {_lua_string(self.log_path)} }}

interfaces = {{ {_lua_string(self.host)} }}
local_interfaces = {{ {_lua_string(self.host)} }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{}}
legacy_ssl_ports = {{}}
s2s_ports = {{}}
component_ports = {{}}
http_ports = {{}}
https_ports = {{}}

-- TCP_NODELAY: without it Nagle's algorithm meets the client's delayed ACKs
-- and adds ~40 ms to some round trips (seen after the STARTTLS restart).
network_settings = {{ nagle = false }}

-- Lua 5.4's generational collector: less time in GC under stanza bursts.
gc = {{ mode = "generational" }}

c2s_require_encryption = true
s2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
ssl = {ssl}

modules_enabled = {{ {modules} }}
{limits}
-- No offline storage: a message to an offline account bounces with
-- service-unavailable (RFC 6121 §8.5.2.2.1), which the sender reports.
modules_disabled = {{ "offline"; "s2s"; "s2s_auth_certs" }}

VirtualHost {_lua_string(self.domain)}
    ssl = {ssl}

-- An internal component (no port of its own), so the server has disco items.
Component {_lua_string("conference." + self.domain)} "muc"
"""
        (self.workdir / "prosody.cfg.lua").write_text(config)

    def _write_account(self, account: Account) -> None:
        # Written straight into Prosody's storage in the format of its
        # internal_hashed auth: no prosodyctl start-up per account, and the
        # password never appears on a command line.
        salt = secrets.token_hex(16)
        salted = hashlib.pbkdf2_hmac("sha1", account.password.reveal().encode(), salt.encode(), self.ITERATIONS)
        client_key = hmac.digest(salted, b"Client Key", "sha1")
        stored_key = hashlib.sha1(client_key).hexdigest()
        server_key = hmac.digest(salted, b"Server Key", "sha1").hex()
        accounts = self.workdir / "data" / _prosody_encode(self.domain) / "accounts"
        accounts.mkdir(parents=True, exist_ok=True)
        record = (
            "return {\n"
            f'\t["iteration_count"] = {self.ITERATIONS};\n'
            f'\t["salt"] = {_lua_string(salt)};\n'
            f'\t["stored_key"] = {_lua_string(stored_key)};\n'
            f'\t["server_key"] = {_lua_string(server_key)};\n'
            "};\n"
        )
        (accounts / f"{_prosody_encode(account.localpart)}.dat").write_text(record)


SERVERS: dict[str, type[LocalServer]] = {ProsodyServer.kind: ProsodyServer}


def start_server(kind: str = "prosody", accounts: int | Iterable[str] = 2, domain: str = "localhost") -> LocalServer:
    """Start a throwaway server of ``kind`` with fresh accounts; the caller stops it.

    ``accounts`` is a number of accounts, or their localparts.
    """
    try:
        server_class = SERVERS[kind]
    except KeyError:
        raise ValueError(f"unknown server {kind!r}; known: {', '.join(sorted(SERVERS))}") from None
    server = server_class(domain=domain)
    try:
        for localpart in [None] * accounts if isinstance(accounts, int) else accounts:
            server.add_account(localpart)
        return server.start()
    except BaseException:
        server.stop()
        raise
