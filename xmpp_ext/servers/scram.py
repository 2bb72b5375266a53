"""SCRAM-SHA-1 credentials as servers store them (RFC 5802 §3), derived here instead of by the server.

Both local servers keep, per account, the salt, the iteration count, StoredKey
and ServerKey, never the password. Deriving them costs one PBKDF2 run; accounts
made in bulk for a load run share one password and one salt, so ten thousand
accounts cost one derivation (a throwaway server on loopback: nothing is gained
by salting them apart).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from xmpp_ext.util.secret import Secret


@dataclass(frozen=True)
class ScramCredentials:
    salt: bytes
    iterations: int
    stored_key: bytes  # H(HMAC(SaltedPassword, "Client Key"))
    server_key: bytes  # HMAC(SaltedPassword, "Server Key")


def derive(password: Secret, salt: bytes, iterations: int) -> ScramCredentials:
    """The stored SCRAM-SHA-1 credentials for ``password`` with ``salt`` and ``iterations``."""
    salted = hashlib.pbkdf2_hmac("sha1", password.reveal().encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha1")
    return ScramCredentials(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.sha1(client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", "sha1"),
    )
