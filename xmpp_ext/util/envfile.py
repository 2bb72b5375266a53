"""The `.env` file that holds the pair's credentials (see .env.example).

Its keys are the XMPPEXT_* names every command reads (util/envvars.py). Files
written before those names existed (``SENDER_JID``, ``XMPP_HOST``, ...) are
still read: each old key counts where its new name is absent.
"""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from xmpp_ext.util import envvars
from xmpp_ext.util.files import NotARegularFile, ReplacingFile, read_regular_file, replaceable_problem
from xmpp_ext.util.secret import Secret

ROLES = envvars.ROLES
REQUIRED_KEYS = tuple(key for role in ROLES for key in (envvars.account_jid(role), envvars.account_password(role)))
OPTIONAL_KEYS = (envvars.HOST, envvars.PORT, envvars.CA_CERT, envvars.INSECURE)
#: The keys of files written before the XMPPEXT_* names: read where the new key is absent.
OLD_KEYS = {
    envvars.account_jid("sender"): "SENDER_JID",
    envvars.account_password("sender"): "SENDER_PASSWORD",
    envvars.account_jid("responder"): "RESPONDER_JID",
    envvars.account_password("responder"): "RESPONDER_PASSWORD",
    envvars.HOST: "XMPP_HOST",
    envvars.PORT: "XMPP_PORT",
    envvars.CA_CERT: "XMPP_CA_CERT",
    envvars.INSECURE: "XMPP_INSECURE",
}

#: A .env holds a few short lines; anything this large is the wrong file.
MAX_ENV_FILE_BYTES = 64 * 1024


class EnvFileError(Exception):
    """The file is missing or incomplete; the message names the file and the problem."""


@dataclass(frozen=True)
class PairCredentials:
    sender_jid: str
    sender_password: Secret = field(repr=False)
    responder_jid: str
    responder_password: Secret = field(repr=False)
    host: str | None = None
    port: int | None = None
    ca_cert: Path | None = None
    insecure: bool = False
    # More accounts beside the pair (xmppext record): (bare JID, password), as XMPPEXT_<LOCALPART>_JID/_PASSWORD.
    others: tuple[tuple[str, Secret], ...] = field(default=(), repr=False)
    # The responder's port when it is not ``port``: its home node in a local ejabberd cluster (run-pair --nodes).
    responder_port: int | None = None

    def jid_of(self, role: str) -> str:
        """The JID of ``role`` (``sender`` or ``responder``)."""
        return self.sender_jid if role == "sender" else self.responder_jid

    def password_of(self, role: str) -> Secret:
        return self.sender_password if role == "sender" else self.responder_password

    def port_of(self, role: str) -> int | None:
        """Where ``role`` logs in: the responder on its own node in a cluster, else ``port``."""
        return self.responder_port if role == "responder" and self.responder_port else self.port


def account_keys(jid: str) -> tuple[str, str]:
    """The .env keys of an extra account: ``account3@localhost`` -> XMPPEXT_ACCOUNT3_JID, XMPPEXT_ACCOUNT3_PASSWORD."""
    name = re.sub(r"[^A-Z0-9]", "_", jid.partition("@")[0].upper())
    return f"XMPPEXT_{name}_JID", f"XMPPEXT_{name}_PASSWORD"


def read_env_file(path: Path) -> PairCredentials:
    """The credentials in ``path``; EnvFileError (one line naming the file and the problem) for anything wrong."""
    try:
        data = read_regular_file(path, MAX_ENV_FILE_BYTES)
    except FileNotFoundError:
        raise EnvFileError(
            f"{path}: no such file (xmppext local-server writes one for a throwaway server; run-pair --local "
            f"needs none; for your own accounts write {', '.join(REQUIRED_KEYS)}, as in the repository's "
            ".env.example)"
        ) from None
    except NotARegularFile as exc:
        raise EnvFileError(str(exc)) from None
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_ENV_FILE_BYTES:
        raise EnvFileError(f"{path}: larger than {MAX_ENV_FILE_BYTES} bytes; is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EnvFileError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") from None
    # No ${VAR} expansion: a password is used exactly as written.
    raw = dotenv_values(stream=io.StringIO(text), interpolate=False)
    values = {key: raw.get(key) or raw.get(OLD_KEYS[key]) or None for key in (*REQUIRED_KEYS, *OPTIONAL_KEYS)}
    missing = [key for key in REQUIRED_KEYS if not values[key]]
    if missing:
        raise EnvFileError(f"{path}: missing {', '.join(missing)}")
    port_key = envvars.PORT if raw.get(envvars.PORT) else OLD_KEYS[envvars.PORT]
    port = _port(path, port_key, values[envvars.PORT])
    ca_cert = values[envvars.CA_CERT]
    return PairCredentials(
        sender_jid=values[envvars.account_jid("sender")],
        sender_password=Secret(values[envvars.account_password("sender")]),
        responder_jid=values[envvars.account_jid("responder")],
        responder_password=Secret(values[envvars.account_password("responder")]),
        host=values[envvars.HOST],
        port=port,
        ca_cert=(path.parent / ca_cert) if ca_cert else None,
        insecure=(values[envvars.INSECURE] or "").strip().lower() in ("1", "true", "yes"),
    )


def _port(path: Path, key: str, value: str | None) -> int | None:
    # Only ASCII digits: str.isdigit() also takes "²", which int() then refuses;
    # and at most five of them: int() refuses strings of over 4,300 digits.
    if value is None:
        return None
    if not (len(value) <= 5 and value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
        raise EnvFileError(f"{path}: {key} must be a port number from 1 to 65535, not {value!r}")
    return int(value)


def exposure_warnings(path: Path) -> list[str]:
    """Why the file's secrets may be exposed: readable by others, or tracked by git."""
    warnings = []
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}")
    try:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", path.name],
            cwd=path.parent,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return warnings  # no git here: nothing can be tracked
    if tracked.returncode == 0:
        warnings.append(f"{path} is tracked by git: its passwords are in the repository; git rm --cached {path.name}")
    return warnings


#: The first line of every .env xmppext writes: what ``write_env_file`` may replace.
MARKER = "# Written by xmppext for a local test server; delete it when the server is gone."


def write_env_file(path: Path, credentials: PairCredentials) -> None:
    """Write ``credentials`` to ``path`` with mode 600, replacing it atomically.

    The file is written under a fresh random name in the same directory
    (``tempfile.mkstemp``: mode 600 from its creation, never an existing
    name, never through a symlink), flushed to disk, then renamed over
    ``path``. ``path`` may only be absent or a regular file that xmppext
    wrote (its first line is MARKER): a symlink or anyone else's file there
    raises EnvFileError and is left as it was.
    """
    check_replaceable(path)
    lines = [MARKER]
    for role in ROLES:
        lines.append(f"{envvars.account_jid(role)}={credentials.jid_of(role)}")
        lines.append(f"{envvars.account_password(role)}={_quoted(credentials.password_of(role).reveal())}")
    lines += [
        f"{envvars.HOST}={credentials.host or ''}",
        f"{envvars.PORT}={credentials.port or ''}",
        f"{envvars.CA_CERT}={credentials.ca_cert or ''}",
    ]
    for jid, password in credentials.others:
        jid_key, password_key = account_keys(jid)
        lines += [f"{jid_key}={jid}", f"{password_key}={_quoted(password.reveal())}"]
    try:
        replacement = ReplacingFile(path)
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot write in {path.parent} ({exc.strerror or exc})") from None
    replacement.commit(("\n".join(lines) + "\n").encode("utf-8"))


def _quoted(value: str) -> str:
    """``value`` in single quotes, which python-dotenv reads literally but for \\' and \\\\ (see .env.example)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def check_replaceable(path: Path) -> None:
    """EnvFileError unless ``path`` is absent or a regular file whose first line is MARKER."""
    advice = "choose another file with --env-file"
    problem = replaceable_problem(path)
    if problem is not None:
        raise EnvFileError(f"{path} {problem}: {advice}")
    if not os.path.lexists(path):
        return
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            first_line = handle.read(len(MARKER) + 1)
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot check it ({exc.strerror or exc})") from None
    if first_line.rstrip(b"\r\n") != MARKER.encode():
        raise EnvFileError(f"{path} exists and was not written by xmppext; not overwriting it: {advice}")
