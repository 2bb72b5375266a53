"""Two changes to slixmpp, made only when asked: ``apply()`` and ``revert()``.

* SCRAM's key derivation in C. slixmpp computes Hi() (RFC 5802 §2.2) with an
  HMAC loop in Python: with the usual 4,096 to 10,000 iterations that is most
  of a one-shot send's login time. Hi() is PBKDF2 with one block of the hash's
  size, which hashlib computes natively; no byte on the wire changes.
* Tab, newline and carriage return written as character references. slixmpp's
  serializer escapes only ``& < > " '``; a receiving parser then turns those
  three into spaces in attribute values (XML 1.0 §3.3.3) and a CR into a
  newline in text (§2.11). Written as ``&#9;`` ``&#10;`` ``&#13;`` they arrive
  as given, up to the server (which may re-serialise them raw). Every other
  byte stays the same; the escape is one ``str.translate``.

Importing any xmpp_ext module changes nothing in slixmpp. The console script
and the command's clients call ``apply()``; a library user may too. Both
patches were written against slixmpp 1.17: on another version ``apply()``
leaves slixmpp alone and says so in the log, rather than guess.
"""

from __future__ import annotations

import hashlib
import importlib
import logging

import slixmpp
from slixmpp.util.sasl import mechanisms

from xmpp_ext.plugin.wire import SLIXMPP_ESCAPE, escape

log = logging.getLogger(__name__)

#: The slixmpp (major, minor) versions these patches were written and tested against.
SUPPORTED_SLIXMPP = ((1, 17),)

# Not ``from slixmpp.xmlstream import tostring``: the package re-exports the
# function tostring() under the same name as the module that defines it.
serializer = importlib.import_module("slixmpp.xmlstream.tostring")

_ORIGINAL_HI = mechanisms.SCRAM.Hi


def scram_hi(self: mechanisms.SCRAM, text: bytes, salt: bytes, iterations: int) -> bytes:
    """SCRAM's Hi(): PBKDF2-HMAC with the mechanism's hash, computed by hashlib."""
    return hashlib.pbkdf2_hmac(self.hash().name, bytes(text), salt, iterations)


def supported(version_info: tuple[int, ...] | None = None) -> bool:
    """Whether the patches were written for this slixmpp version (default: the one installed)."""
    version_info = version_info or tuple(slixmpp.__version_info__)
    return tuple(version_info[:2]) in SUPPORTED_SLIXMPP


def apply() -> bool:
    """Install both patches (idempotent); False, changing nothing, on an unsupported slixmpp."""
    if not supported():
        log.warning(
            "slixmpp %s is not a version xmpp_ext.session.patches was written for: SCRAM stays in Python and "
            "tab/newline/CR in attribute values are written raw",
            slixmpp.__version__,
        )
        return False
    mechanisms.SCRAM.Hi = scram_hi
    serializer.escape = escape
    return True


def revert() -> None:
    """Give slixmpp its own functions back."""
    mechanisms.SCRAM.Hi = _ORIGINAL_HI
    serializer.escape = SLIXMPP_ESCAPE


def applied() -> bool:
    return mechanisms.SCRAM.Hi is scram_hi and serializer.escape is escape
