"""The `.env` file that holds the pair's credentials (see .env.example)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from xmpp_ext.util.files import NotARegularFile, ReplacingFile, read_regular_file, replaceable_problem
from xmpp_ext.util.secret import Secret

REQUIRED_KEYS = ("SENDER_JID", "SENDER_PASSWORD", "RESPONDER_JID", "RESPONDER_PASSWORD")
OPTIONAL_KEYS = ("XMPP_HOST", "XMPP_PORT", "XMPP_CA_CERT", "XMPP_INSECURE")

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


def read_env_file(path: Path) -> PairCredentials:
    """The credentials in ``path``; EnvFileError (one line naming the file and the problem) for anything wrong."""
    try:
        data = read_regular_file(path, MAX_ENV_FILE_BYTES)
    except FileNotFoundError:
        raise EnvFileError(
            f"{path}: no such file (xmppext local-server writes one for a throwaway server; run-pair --local "
            "needs none; for your own accounts write SENDER_JID, SENDER_PASSWORD, RESPONDER_JID, "
            "RESPONDER_PASSWORD, as in the repository's .env.example)"
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
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    missing = [key for key in REQUIRED_KEYS if not values.get(key)]
    if missing:
        raise EnvFileError(f"{path}: missing {', '.join(missing)}")
    port = _port(path, values.get("XMPP_PORT") or None)
    ca_cert = values.get("XMPP_CA_CERT") or None
    return PairCredentials(
        sender_jid=values["SENDER_JID"],
        sender_password=Secret(values["SENDER_PASSWORD"]),
        responder_jid=values["RESPONDER_JID"],
        responder_password=Secret(values["RESPONDER_PASSWORD"]),
        host=values.get("XMPP_HOST") or None,
        port=port,
        ca_cert=(path.parent / ca_cert) if ca_cert else None,
        insecure=(values.get("XMPP_INSECURE") or "").strip().lower() in ("1", "true", "yes"),
    )


def _port(path: Path, value: str | None) -> int | None:
    # Only ASCII digits: str.isdigit() also takes "²", which int() then refuses;
    # and at most five of them: int() refuses strings of over 4,300 digits.
    if value is None:
        return None
    if not (len(value) <= 5 and value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
        raise EnvFileError(f"{path}: XMPP_PORT must be a port number from 1 to 65535, not {value!r}")
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
    lines = [
        MARKER,
        f"SENDER_JID={credentials.sender_jid}",
        f"SENDER_PASSWORD={_quoted(credentials.sender_password.reveal())}",
        f"RESPONDER_JID={credentials.responder_jid}",
        f"RESPONDER_PASSWORD={_quoted(credentials.responder_password.reveal())}",
        f"XMPP_HOST={credentials.host or ''}",
        f"XMPP_PORT={credentials.port or ''}",
        f"XMPP_CA_CERT={credentials.ca_cert or ''}",
    ]
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
