"""SCRAM's key derivation in C instead of Python.

slixmpp computes SCRAM's Hi() (RFC 5802 §2.2) with an HMAC loop in Python:
with the usual 4,096 to 10,000 iterations that is most of a one-shot send's
login time. Hi() is PBKDF2 with one block of the hash's size, which hashlib
computes natively; installing this changes no byte on the wire.
"""

from __future__ import annotations

import hashlib

from slixmpp.util.sasl import mechanisms


def _hi(self: mechanisms.SCRAM, text: bytes, salt: bytes, iterations: int) -> bytes:
    name = self.hash().name
    return hashlib.pbkdf2_hmac(name, bytes(text), salt, iterations)


def install() -> None:
    """Replace slixmpp's SCRAM Hi() with hashlib's PBKDF2 (idempotent)."""
    mechanisms.SCRAM.Hi = _hi
