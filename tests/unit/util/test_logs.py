"""Secrets never reach a log line."""

from __future__ import annotations

import logging

from xmpp_ext.util.logs import RedactingFilter
from xmpp_ext.util.secret import Secret


def format_through_filter(record: logging.LogRecord, secret: Secret) -> str:
    assert RedactingFilter([secret]).filter(record)
    return logging.Formatter("%(message)s").format(record)


def make_record(message: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("slixmpp", logging.DEBUG, __file__, 1, message, args, exc_info)


def test_sasl_payloads_are_blanked():
    record = make_record(
        "SEND: %s", '<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">AHVzZXIAaHVudGVyMg==</auth>'
    )
    line = format_through_filter(record, Secret("hunter2"))
    assert line == 'SEND: <auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">[redacted]</auth>'


def test_responses_and_challenges_are_blanked():
    for element in ("response", "challenge", "success"):
        xml = f"<{element} xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>c2VjcmV0</{element}>"
        assert "c2VjcmV0" not in format_through_filter(make_record("RECV: %s", xml), Secret("x"))


def test_the_password_itself_is_replaced_anywhere():
    line = format_through_filter(make_record("password is %s", "hunter2"), Secret("hunter2"))
    assert line == "password is [redacted]"


def test_tracebacks_are_redacted_too():
    try:
        raise ValueError("bad password hunter2")
    except ValueError:
        import sys

        record = make_record("failed", exc_info=sys.exc_info())
    line = format_through_filter(record, Secret("hunter2"))
    assert "ValueError: bad password [redacted]" in line and "hunter2" not in line


def test_secret_never_prints_itself():
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}"
    assert secret.reveal() == "hunter2"


def test_in_band_registration_password_is_blanked():
    xml = "<query xmlns='jabber:iq:register'><username>u</username><password>s3cret</password></query>"
    line = format_through_filter(make_record("SEND: %s", xml), Secret("other"))
    assert "s3cret" not in line and "<password>[redacted]</password>" in line
