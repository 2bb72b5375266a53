"""xmppext load's options, thresholds and report, offline: nothing here logs in (bad usage is exit 2 at once)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from xmpp_ext.cli import cli
from xmpp_ext.load import thresholds
from xmpp_ext.load.histogram import Latencies, LatencySummary
from xmpp_ext.load.plan import LoadPlan, PairAccounts, decode, encode, per_sender_counts, split
from xmpp_ext.load.results import Totals
from xmpp_ext.servers import free_port
from xmpp_ext.servers.base import Account
from xmpp_ext.util.secret import Secret


def invoke(*args: str, **env: str):
    base = {"XMPPEXT_PASSWORD": "pw-not-used", "XMPPEXT_HOST": "127.0.0.1", "XMPPEXT_PORT": str(free_port())}
    return CliRunner().invoke(cli, ["load", *args], env={**base, **env})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of --local, --accounts PATTERN or --accounts-file FILE"),
        (("--local", "--accounts", "a{n}@x"), "give exactly one of --local"),
        (("--accounts", "a{n}@x", "--server", "ejabberd"), "--server chooses the server --local starts"),
        (("--local", "--host", "example.net"), "--host is for your own server; --local makes its own"),
        (("--local", "--window", "4", "--rate", "10"), "--window (closed loop) and --rate (open loop) exclude"),
        (("--local", "--duration", "4", "--exchanges", "10"), "--duration and --exchanges exclude each other"),
        (("--accounts", "load@example.net"), "must contain {n} exactly once"),
        (("--accounts", "load{n}"), "expected a bare JID, user@domain"),
        (("--local", "--fail-if", "p99>"), "is not METRIC OP VALUE"),
        (("--local", "--fail-if", "p98>3ms"), "unknown metric 'p98'"),
        (("--local", "--fail-if", "rate>3ms"), "rate is not a time"),
        (("--local", "--fail-if", "p99>1%"), "a latency takes us, ms or s, not %"),
        (("--local", "--processes", "0"), "0 processes: give 1 to 64, or auto"),
        (("--local", "--rate", "nan"), "a rate must be a finite number, more than 0"),
        (("--local", "--duration", "inf"), "seconds must be a finite number"),
        (("--local", "--stall-responders", "2"), "is not AT:SECONDS"),
        (("--local", "--report", "run.pdf"), "the report is .html or .png"),
        (("--local", "--pairs", "0"), "0 is not in the range 1<=x<=50000"),
        (("--local", "--sasl", "DIGEST-MD5"), "'DIGEST-MD5' is not one of 'PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256'"),
        (("--local", "--xml", "<a xmlns='urn:x'/>"), "--xml goes with --raw (your extension's payload)"),
        (("--local", "--responder-plugin", "bot:Bot"), "--responder-plugin goes with --raw"),
        (("--local", "--raw"), "--raw needs the payload: --xml 'XML', --path FILE, or --path -"),
        (("--local", "--raw", "--kind", "ping", "--xml", "<a xmlns='urn:x'/>"), "--raw sends your payload in iq"),
        (("--local", "--raw", "--xml", "<a xmlns='urn:x'/>", "--path", "p.xml"), "--path and --xml both give"),
        (("--local", "--raw", "--xml", "<a/>"), "<a> has no namespace"),
        (("--local", "--raw", "--xml", "<iq xmlns='jabber:client'/>"), "give the payload only, the element inside"),
        (("--local", "--raw", "--xml", "<a xmlns='urn:x'"), "Invalid value for --xml"),
        (
            ("--local", "--raw", "--xml", "<a xmlns='urn:x'/>", "--responder-plugin", "nosuchmodule_xyz:P"),
            "Invalid value for --responder-plugin: no module named 'nosuchmodule_xyz'",
        ),
        (
            (
                "--local",
                "--raw",
                "--xml",
                "<a xmlns='urn:x'/>",
                "--responder-plugin",
                "m:P",
                "--stall-responders",
                "1:1",
            ),
            "--stall-responders holds the engine's answers: not with --responder-plugin",
        ),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_pattern_without_a_password_in_the_environment_is_refused():
    result = invoke("--accounts", "load{n}@localhost", XMPPEXT_PASSWORD="")
    assert result.exit_code == 2
    assert "no password: set XMPPEXT_PASSWORD" in result.output


def test_an_accounts_file_too_short_for_the_pairs_is_refused(tmp_path):
    listed = tmp_path / "accounts"
    listed.write_text("a@localhost pw1\nb@localhost pw2\n")
    result = invoke("--accounts-file", str(listed), "--pairs", "2")
    assert result.exit_code == 2
    assert "lists 2 accounts; 2 pairs need 4" in result.output
    assert "pw1" not in result.output


def test_help_names_the_exit_codes():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "130  interrupted by Ctrl-C or SIGTERM" in result.output
    assert "--fail-if METRIC OP VALUE" in result.output


def totals(**changes) -> Totals:
    def latencies(p99: float) -> LatencySummary:
        return LatencySummary(1000, p99 / 4, p99 / 2, p99, p99 * 2, p99 * 3, p99 / 3)

    values = dict(
        kind="iq",
        loop="closed (window 1)",
        pairs=10,
        processes=2,
        sessions_planned=20,
        sessions_up=20,
        login_failed=0,
        login_failed_by={},
        logins=latencies(80.0),
        logins_per_second=200.0,
        exchanges=latencies(31.2),
        ok=1000,
        failed=0,
        failed_by={},
        lost=0,
        late=0,
        unsent=0,
        run_seconds=10.0,
        exchanges_per_second=100.0,
        resumed=0,
        disconnected=0,
        new_sessions=0,
        sessions_lost=0,
        generator_cpu_per_login_ms=3.0,
        generator_cpu_per_exchange_us=250.0,
        generator_kib_per_session=104.0,
        generator_kib_per_session_exchanging=106.0,
        generator_cpu_percent=50.0,
        server_cpu_percent=None,
        server_cpu_per_login_ms=None,
        server_cpu_per_exchange_us=None,
        server_bottleneck=False,
        interrupted=False,
        crashed=[],
    )
    values.update(changes)
    return Totals(**values)


@pytest.mark.parametrize(
    ("text", "crossing"),
    [
        ("p99>20ms", "threshold crossed: p99>20ms (p99 was 31.200 ms)"),
        ("p99 > 20000us", "threshold crossed: p99>20000us (p99 was 31.200 ms)"),
        ("p99.9>0.05s", "threshold crossed: p99.9>0.05s (p99.9 was 62.400 ms)"),
        ("login_p99>50", "threshold crossed: login_p99>50 (login_p99 was 80.000 ms)"),
        ("rate<1000", "threshold crossed: rate<1000 (rate was 100.0/s)"),
        ("sessions<21", "threshold crossed: sessions<21 (sessions was 20)"),
        ("p99>40ms", None),
        ("lost>0", None),
        ("errors>=1", None),
        ("rate>=100", "threshold crossed: rate>=100 (rate was 100.0/s)"),
    ],
)
def test_thresholds_cross_or_hold(text, crossing):
    threshold = thresholds.parse(text)
    assert thresholds.crossings([threshold], totals()) == ([crossing] if crossing else [])


def test_percent_thresholds_count_against_all_exchanges_or_sessions():
    run = totals(ok=990, failed=6, lost=4, login_failed=1, login_failed_by={"auth": 1})
    assert thresholds.crossings([thresholds.parse("failed>0.5%")], run) == [
        "threshold crossed: failed>0.5% (failed was 0.6%)"
    ]
    assert thresholds.crossings([thresholds.parse("lost>0.5%")], run) == []
    assert thresholds.crossings([thresholds.parse("login_failed>=5%")], run) == [
        "threshold crossed: login_failed>=5% (login_failed was 5%)"
    ]
    assert thresholds.crossings([thresholds.parse(thresholds.DEFAULT)], run) == [
        "threshold crossed: errors>0 (errors was 11)"
    ]


def test_a_metric_not_measured_is_not_crossed():
    run = totals(exchanges=Latencies().summary())
    assert thresholds.crossings([thresholds.parse("p99>1ms")], run) == []


def test_pairs_and_totals_are_shared_out_whole():
    accounts = [PairAccounts(Account(f"s{i}@x", Secret("p")), Account(f"r{i}@x", Secret("p"))) for i in range(7)]
    plan = LoadPlan(pairs=7, rate=70.0, exchanges=101, ramp=14.0)
    shares = split(plan, accounts, 3)
    assert [len(share.pairs) for share in shares] == [3, 2, 2]
    assert [share.first for share in shares] == [0, 3, 5]
    assert sum(share.exchanges for share in shares) == 101
    assert sum(share.rate for share in shares) == pytest.approx(70.0)
    assert sum(share.ramp for share in shares) == pytest.approx(14.0)
    assert len(split(plan, accounts[:1], 4)) == 1  # never more workers than pairs
    assert per_sender_counts(10, 4) == [3, 3, 2, 2]
    plan_back, share_back = decode(encode(plan, shares[1]))
    assert plan_back == plan and share_back == shares[1]


def test_the_plan_prints_no_password():
    pair = PairAccounts(Account("s@x", Secret("secret-pw")), Account("r@x", Secret("secret-pw")))
    assert "secret-pw" not in repr(pair)


def test_a_raw_payload_too_large_once_written_is_refused():
    # 60,000 apostrophes are 360,000 bytes once escaped: more than any server accepts in a stanza.
    result = invoke("--local", "--raw", "--xml", f"<a xmlns='urn:x'>{chr(39) * 60_000}</a>")
    assert result.exit_code == 2, result.output
    assert "each request as written:" in result.output and "the stanza size servers accept" in result.output


def test_a_raw_payload_is_written_as_send_raw_writes_it():
    from xmpp_ext.cli.load import _raw_payload

    options = {"path": None, "xml": "<a xmlns='urn:x' v='x&#9;y'>l1&#13;l2</a>", "responder_plugin": None}
    assert _raw_payload(options) == '<a xmlns="urn:x" v="x&#9;y">l1&#13;l2</a>'  # not turned into spaces
