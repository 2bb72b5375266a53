"""Logging for the command line: levels for -d/-q, and secrets kept out of every record.

slixmpp logs every byte it sends at DEBUG, SASL exchange included; the
filter here blanks SASL payloads and any known password before a record is
written, whatever logger it comes from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from xmpp_ext.util.secret import Secret

REDACTED = "[redacted]"
# In-band registration and password changes (XEP-0077) carry the password in clear.
_PASSWORD_ELEMENT = re.compile(r"(<password\b[^>]*>)(.*?)(</password>)", re.DOTALL)
_SASL_ELEMENT = re.compile(
    r"(<(auth|response|challenge|success)\b[^>]*xmlns=[\"']urn:ietf:params:xml:ns:xmpp-sasl[\"'][^>]*>)"
    r"(.*?)(</\2>)",
    re.DOTALL,
)


# slixmpp's own reports of failures that xmppext reports itself, in one line
# with host, port and JID; shown only with --debug.
_REPORTED_ELSEWHERE = ("CERT: Invalid certificate trust chain.",)


class DuplicateFailureFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _REPORTED_ELSEWHERE


class RedactingFilter(logging.Filter):
    """Replaces SASL payloads and the given secrets in each record's final message."""

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        super().__init__()
        self._values = [secret.reveal() for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SASL_ELEMENT.sub(lambda match: match.group(1) + REDACTED + match.group(4), message)
        redacted = _PASSWORD_ELEMENT.sub(lambda match: match.group(1) + REDACTED + match.group(3), redacted)
        for value in self._values:
            redacted = redacted.replace(value, REDACTED)
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later from exc_info: fold them in now, redacted.
            text = logging.Formatter().formatException(record.exc_info)
            for value in self._values:
                text = text.replace(value, REDACTED)
            redacted = f"{redacted}\n{text}"
            record.exc_info = None
            record.exc_text = None
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def configure_logging(verbosity: int, secrets: Iterable[Secret] = ()) -> None:
    """verbosity: -1 quiet (errors only), 0 normal (warnings), 1 debug (everything, redacted)."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.DEBUG}[verbosity]
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    if verbosity < 1:
        handler.addFilter(DuplicateFailureFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
