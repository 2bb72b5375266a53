"""xmpp_ext.locust's offline pieces: microsecond buckets, the end-of-run lines, the configuration's errors.

Each check runs in a fresh interpreter: importing xmpp_ext.locust imports Locust, which patches the whole
process with gevent (never this test process).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

# Looked for, never imported here (pytest.importorskip would import it, and patch this process).
pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="the locust extra is not installed")


def in_fresh_interpreter(code: str, env: dict[str, str] | None = None) -> object:
    """What ``code`` (which sets ``result``) computes, as JSON, in a new Python process."""
    script = textwrap.dedent(code) + "\nimport json\nprint(json.dumps(result))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_response_times_keep_microseconds_below_100_ms_and_locusts_buckets_above():
    result = in_fresh_interpreter(
        """
        import xmpp_ext.locust
        from locust import stats
        result = [stats.bucket_response_time(t) for t in (0.41234, 0.0004, 4.1234, 41.234, 147.0, 3432.0)]
        """
    )
    assert result == [0.412, 0.0, 4.12, 41.2, 150, 3400]


def test_the_end_of_run_lines_give_sub_millisecond_percentiles():
    result = in_fresh_interpreter(
        """
        import xmpp_ext.locust
        from locust.stats import RequestStats
        from xmpp_ext.locust.timing import summary_lines
        stats = RequestStats()
        for ms in [0.25] * 90 + [0.75] * 9 + [12.5]:
            stats.log_request("xmpp", "iq", ms, 0)
        stats.log_error("xmpp", "iq", "lost")
        result = summary_lines(stats)
        """
    )
    assert result == [
        "xmpp iq: 100 requests, 1 failed; p50 250 µs, p90 750 µs, p99 12.5 ms, p99.9 12.5 ms, max 12.5 ms"
    ]


PASSWORD = {"XMPPEXT_PASSWORD": "pw"}
PAIR_2 = ["load5@example.net", "load6@example.net"]  # pair 2 (from 0) of --xmpp-first 1
CONFIG = """
import argparse, os
import xmpp_ext.locust
from xmpp_ext.locust import config
options = argparse.Namespace(xmpp_accounts={accounts!r}, xmpp_first=1, xmpp_host="", xmpp_ports={ports!r},
                             xmpp_ca_cert="", xmpp_kind="iq", xmpp_timeout=10.0, xmpp_login_timeout=30.0)
try:
    read = config.read(options, {environ!r})
    result = [read.plan.port, read.plan.node_ports, [a.jid for a in vars(read.pair_accounts(2)).values()]]
except config.ConfigError as exc:
    result = str(exc)
"""


@pytest.mark.parametrize(
    ("accounts", "ports", "environ", "expected"),
    [
        ("load{n}@example.net", "5222,5322", PASSWORD, [5222, [5222, 5322], PAIR_2]),
        ("load{n}@example.net", "", PASSWORD, [None, None, PAIR_2]),
        ("", "", PASSWORD, "no accounts: give --xmpp-accounts 'load{n}@example.net' (or XMPPEXT_LOCUST_ACCOUNTS)"),
        (
            "load@example.net",
            "",
            PASSWORD,
            "--xmpp-accounts: 'load@example.net' must contain {n} exactly once, e.g. 'load{n}@example.net'",
        ),
        ("load{n}@example.net", "", {}, "no password: set XMPPEXT_PASSWORD (every account of --xmpp-accounts has it)"),
        ("load{n}@example.net", "5222,x", PASSWORD, "--xmpp-ports: 'x' is not a TCP port number"),
    ],
)
def test_configuration(accounts, ports, environ, expected):
    assert in_fresh_interpreter(CONFIG.format(accounts=accounts, ports=ports, environ=environ)) == expected


def test_a_master_that_measured_nothing_exits_1_with_one_line():
    result = in_fresh_interpreter(
        """
        import contextlib, io, types
        import xmpp_ext.locust
        from locust.stats import RequestStats
        from xmpp_ext.locust.workers import MissingWorkers

        from locust.event import Events

        runner = types.SimpleNamespace(
            clients=types.SimpleNamespace(missing=[]), environment=types.SimpleNamespace(events=Events())
        )
        watch = MissingWorkers(runner)
        result = []
        for requests in (0, 3):
            stats = RequestStats()
            for _ in range(requests):
                stats.log_request("xmpp", "iq", 0.5, 0)
            environment = types.SimpleNamespace(stats=stats, process_exit_code=None)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                watch.report(environment)
            result.append([environment.process_exit_code, err.getvalue()])
        """
    )
    (nothing_code, nothing_said), (some_code, some_said) = result
    assert nothing_code == 1 and nothing_said.startswith("xmppext: no login and no exchange reached the master")
    assert (some_code, some_said) == (None, "")


def test_the_master_says_once_when_a_workers_reports_first_carry_exchanges():
    result = in_fresh_interpreter(
        """
        import contextlib, io, types
        import xmpp_ext.locust
        from locust.event import Events
        from xmpp_ext.locust.workers import MissingWorkers

        events = Events()
        runner = types.SimpleNamespace(
            clients=types.SimpleNamespace(missing=[]),
            environment=types.SimpleNamespace(events=events),
            get_worker_index=lambda worker_id: 4,
        )
        MissingWorkers(runner)
        result = []
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            for names in ([], ["login"], ["login", "iq"], ["iq"]):
                stats = [{"name": name, "num_requests": 2} for name in names]
                events.worker_report.fire(client_id="w-1", data={"stats": stats})
                result.append(err.getvalue().count("reported its first exchanges"))
        result.append(err.getvalue())
        """
    )
    *counts, said = result
    assert counts == [0, 0, 1, 1]  # logins alone are not exchanges; said once
    assert said == "xmppext: worker 4 (w-1) reported its first exchanges\n"


def test_a_single_process_run_without_a_password_is_one_line_and_exit_2(tmp_path):
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text("from xmpp_ext.locust import XmppPairUser\n\n\nclass Pair(XmppPairUser):\n    pass\n")
    environment = {key: value for key, value in os.environ.items() if key != "XMPPEXT_PASSWORD"}
    headless = ["--headless", "-u", "1", "-r", "1", "-t", "3"]
    xmpp = ["--xmpp-accounts", "load{n}@localhost", "--xmpp-host", "127.0.0.1"]
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), *headless, *xmpp],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("xmppext: no password: set XMPPEXT_PASSWORD") == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
