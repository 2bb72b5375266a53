"""xmpp_ext.session.patches: slixmpp changes only when asked, and the changes do what they say."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import subprocess
import sys
from xml.etree import ElementTree

import pytest
from slixmpp.util.sasl import mechanisms
from slixmpp.xmlstream import tostring

from xmpp_ext.plugin import ExampleTag
from xmpp_ext.plugin.wire import SLIXMPP_ESCAPE
from xmpp_ext.session import patches

AWKWARD = "tab\there\nnew line\r\nCRLF & <markup> \"quoted\" 'single'"


def _reference_hi(mechanism, text, salt, iterations):
    """RFC 5802's Hi(), written out: U1 = HMAC(str, salt + INT(1)), Ui = HMAC(str, Ui-1), XOR of all."""
    block = hmac.new(text, salt + b"\x00\x00\x00\x01", mechanism.hash).digest()
    result = int.from_bytes(block, "big")
    for _ in range(iterations - 1):
        block = hmac.new(text, block, mechanism.hash).digest()
        result ^= int.from_bytes(block, "big")
    return result.to_bytes(len(block), "big")


def _mechanism(hash_function):
    mechanism = object.__new__(mechanisms.SCRAM)
    mechanism.hash = hash_function
    return mechanism


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize(
    ("password", "salt", "iterations"), [(b"pencil", b"salt", 4096), (b"p\xc3\xa4ss", b"\x00\x01", 1)]
)
def test_scram_hi_same_as_the_python_loop(hash_name, password, salt, iterations):
    mechanism = _mechanism(getattr(hashlib, hash_name))
    expected = _reference_hi(mechanism, password, salt, iterations)
    assert patches.scram_hi(mechanism, password, salt, iterations) == expected


def test_scram_hi_rfc_5802_vector():
    # RFC 5802 §5: SaltedPassword for "pencil", salt QSXCR+Q6sek8bf92, 4096 iterations (SHA-1).
    salted = patches.scram_hi(_mechanism(hashlib.sha1), b"pencil", base64.b64decode("QSXCR+Q6sek8bf92"), 4096)
    assert salted.hex() == "1d96ee3a529b5a5f9e47c01f229a2cb8a6e15f7d"


@pytest.fixture
def awkward_tag() -> ExampleTag:
    tag = ExampleTag()
    tag.fill_interfaces(True, AWKWARD, AWKWARD)
    tag.add_inside_tag("inside_tag", {"first_field": AWKWARD})
    return tag


def test_applied_whitespace_survives_in_attributes_and_text(awkward_tag, patched_slixmpp):
    parsed = ElementTree.fromstring(tostring(awkward_tag.xml))
    assert parsed.get("some_string") == AWKWARD
    assert parsed.text == AWKWARD
    assert parsed[0].get("first_field") == AWKWARD
    assert "&#9;" in tostring(awkward_tag.xml)
    assert mechanisms.SCRAM.Hi is patches.scram_hi


def test_slixmpp_alone_loses_whitespace(awkward_tag):
    # Why the escaping patch exists: when this fails, slixmpp escapes these itself and the patch can go.
    assert not patches.applied()
    parsed = ElementTree.fromstring(tostring(awkward_tag.xml))
    assert parsed.get("some_string") == AWKWARD.replace("\r\n", " ").replace("\t", " ").replace("\n", " ")


def test_slixmpp_scram_is_still_the_python_loop():
    # Why the SCRAM patch exists: when slixmpp computes Hi() natively, the patch can go.
    assert mechanisms.SCRAM.Hi is not patches.scram_hi
    assert "hmac" in mechanisms.SCRAM.Hi.__code__.co_names or "HMAC" in mechanisms.SCRAM.Hi.__code__.co_names


def test_revert_restores_slixmpp(patched_slixmpp):
    assert patches.applied()
    patches.revert()
    assert not patches.applied()
    assert tostring(ElementTree.Element("x", a="\t")) == '<x a="\t" />'


def test_unsupported_slixmpp_is_left_alone(monkeypatch, caplog):
    # An in-process CLI test (-q) may have left the root logger at ERROR: hear the warning whatever ran before.
    caplog.set_level(logging.WARNING, logger=patches.__name__)
    monkeypatch.setattr(patches.slixmpp, "__version_info__", (1, 99, 0))
    # At WARNING explicitly: a command run in-process earlier (CliRunner, -q) may have set the root to ERROR.
    with caplog.at_level(logging.WARNING, "xmpp_ext.session.patches"):
        assert patches.apply() is False
    assert not patches.applied()
    assert "not a version xmpp_ext.session.patches was written for" in caplog.text


def test_installed_slixmpp_is_supported():
    # When this fails, slixmpp was upgraded: re-check both patches, then add the version to SUPPORTED_SLIXMPP.
    assert patches.supported()


def test_cdata_mode_keeps_slixmpp_escaping():
    assert patches.escape("a<b", use_cdata=True) == SLIXMPP_ESCAPE("a<b", use_cdata=True)


def test_importing_every_module_patches_nothing():
    code = (
        "import pkgutil, importlib, xmpp_ext\n"
        "for info in pkgutil.walk_packages(xmpp_ext.__path__, 'xmpp_ext.'):\n"
        "    if info.name not in ('xmpp_ext.__main__',):\n"
        "        importlib.import_module(info.name)\n"
        "from xmpp_ext.session import patches\n"
        "print(patches.applied())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
