"""What a load worker changes in its process (xmpp_ext.load.sessions), and the report it can write."""

from __future__ import annotations

import pytest

from tests.unit.load.test_options import totals
from xmpp_ext.load import sessions
from xmpp_ext.load.coordinator import LoadOutcome
from xmpp_ext.load.histogram import Latencies
from xmpp_ext.load.results import Second


def test_scram_salted_password_is_computed_once_per_password_and_salt():
    from slixmpp.util.sasl import mechanisms

    assert sessions.cache_salted_passwords()
    scram = mechanisms.SCRAM.__new__(mechanisms.SCRAM)
    scram.hash = __import__("hashlib").sha1
    sessions._salted_password.cache_clear()
    first = mechanisms.SCRAM.Hi(scram, b"password", b"salt", 4096)
    again = mechanisms.SCRAM.Hi(scram, b"password", b"salt", 4096)
    assert first == again == __import__("hashlib").pbkdf2_hmac("sha1", b"password", b"salt", 4096)
    assert sessions._salted_password.cache_info().hits == 1


def outcome() -> LoadOutcome:
    exchanges, logins = Latencies(), Latencies()
    series = []
    for second in range(5):
        for _ in range(50):
            exchanges.record(0.002 + second * 0.001)
        logins.record(0.050)
        series.append(
            Second(second, phase="login" if second == 0 else "run", ok=50, logins=1, up=20, generator_cpu=0.4)
        )
        series[-1].exchanges, series[-1].p50_ms, series[-1].p99_ms, series[-1].max_ms = None, 2.0, 4.0, 5.0
        series[-1].server_cpu = 0.3
    return LoadOutcome(totals(), series, exchanges, logins)


@pytest.mark.parametrize("suffix", [".html", ".png"])
def test_the_report_is_one_self_contained_file(tmp_path, suffix):
    from xmpp_ext.load.report import write_report

    path = tmp_path / f"run{suffix}"
    write_report(path, outcome(), "xmppext load: a test run", ["exchanges 1,000", "sessions 20/20"])
    if suffix == ".png":
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    else:
        page = path.read_text()
        assert page.count("<svg") == 4
        assert "xmppext load: a test run" in page and "sessions 20/20" in page
        # Nothing to run or fetch: no script, no external image, style or link.
        assert "<script" not in page and " src=" not in page and 'href="http' not in page
