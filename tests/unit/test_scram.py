"""The native SCRAM Hi() gives slixmpp's own results, byte for byte."""

from __future__ import annotations

import hashlib

import pytest
from slixmpp.util.sasl import mechanisms

from xmpp_ext import scram


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize(
    ("password", "salt", "iterations"), [(b"pencil", b"salt", 4096), (b"p\xc3\xa4ss", b"\x00\x01", 1)]
)
def test_same_as_the_python_loop(hash_name, password, salt, iterations):
    mechanism = object.__new__(mechanisms.SCRAM)
    mechanism.hash = getattr(hashlib, hash_name)
    assert scram._hi(mechanism, password, salt, iterations) == _reference_hi(mechanism, password, salt, iterations)


def test_installed_into_slixmpp():
    scram.install()
    assert mechanisms.SCRAM.Hi is scram._hi


def _reference_hi(mechanism, text, salt, iterations):
    """RFC 5802's Hi(), written out: U1 = HMAC(str, salt + INT(1)), Ui = HMAC(str, Ui-1), XOR of all."""
    import hmac

    block = hmac.new(text, salt + b"\x00\x00\x00\x01", mechanism.hash).digest()
    result = int.from_bytes(block, "big")
    for _ in range(iterations - 1):
        block = hmac.new(text, block, mechanism.hash).digest()
        result ^= int.from_bytes(block, "big")
    return result.to_bytes(len(block), "big")


def test_rfc_5802_vector():
    # RFC 5802 §5: SaltedPassword for "pencil", salt QSXCR+Q6sek8bf92, 4096 iterations (SHA-1).
    import base64

    mechanism = object.__new__(mechanisms.SCRAM)
    mechanism.hash = hashlib.sha1
    salted = scram._hi(mechanism, b"pencil", base64.b64decode("QSXCR+Q6sek8bf92"), 4096)
    assert salted.hex() == "1d96ee3a529b5a5f9e47c01f229a2cb8a6e15f7d"
