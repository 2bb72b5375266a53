"""The fault proxy's options: amounts parsed exactly, anything but loopback refused in one line (CliRunner)."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from xmpp_ext.cli.fault_proxy import command
from xmpp_ext.faultproxy import (
    MAX_DURATION,
    FaultPlan,
    FaultProxy,
    FaultProxyError,
    parse_cut_every,
    parse_duration,
    parse_endpoint,
    parse_seconds,
)


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        ("2s", FaultPlan(cut_every_seconds=2.0)),
        ("2", FaultPlan(cut_every_seconds=2.0)),
        ("1.5s", FaultPlan(cut_every_seconds=1.5)),
        ("500ms", FaultPlan(cut_every_seconds=0.5)),
        ("64kb", FaultPlan(cut_every_bytes=65536)),
        ("1MB", FaultPlan(cut_every_bytes=1048576)),
        ("4096b", FaultPlan(cut_every_bytes=4096)),
    ],
)
def test_cut_every_reads_seconds_or_bytes(text, plan):
    assert parse_cut_every(text) == plan


@pytest.mark.parametrize("text", ["", "abc", "0s", "0kb", "-2s", "2 min", "1.5kb", "2h"])
def test_cut_every_refuses_what_is_neither(text):
    with pytest.raises(FaultProxyError, match="--cut-every must be"):
        parse_cut_every(text)


def test_seconds_and_duration_bounds():
    assert parse_seconds("250ms") == 0.25
    with pytest.raises(FaultProxyError, match="more than 0"):
        parse_seconds("0")
    assert parse_duration("3600") == MAX_DURATION
    with pytest.raises(FaultProxyError, match="at most 3600s"):
        parse_duration("3601")


@pytest.mark.parametrize(
    ("text", "listen", "endpoint"),
    [
        ("127.0.0.1:5222", False, ("127.0.0.1", 5222)),
        ("127.1.2.3:5222", False, ("127.1.2.3", 5222)),
        ("localhost:5222", False, ("127.0.0.1", 5222)),
        ("[::1]:5222", False, ("::1", 5222)),
        ("5300", True, ("127.0.0.1", 5300)),
        ("0", True, ("127.0.0.1", 0)),
        ("[::1]:0", True, ("::1", 0)),
        ("127.1.2.3:0", True, ("127.1.2.3", 0)),  # all of 127.0.0.0/8 is loopback, to listen on too
    ],
)
def test_endpoints_on_loopback(text, listen, endpoint):
    assert parse_endpoint(text, listen=listen) == endpoint


@pytest.mark.parametrize(
    ("text", "listen", "message"),
    [
        ("10.0.0.1:5222", False, "only connects to loopback"),
        ("[::ffff:127.0.0.1]:5222", False, "only connects to loopback"),
        ("0.0.0.0:5222", False, "only connects to loopback"),
        ("example.net:5222", False, "not a loopback IP address"),
        ("0.0.0.0:5300", True, r"only on loopback addresses \(127\.0\.0\.0/8 or ::1\)"),
        ("[::]:5300", True, r"only on loopback addresses \(127\.0\.0\.0/8 or ::1\)"),
        ("10.1.2.3:5300", True, "refusing to listen on 10.1.2.3"),
        ("5222", False, "is not HOST:PORT"),
        ("127.0.0.1:0", False, "out of range"),
        ("127.0.0.1:70000", False, "out of range"),
    ],
)
def test_endpoints_elsewhere_are_refused(text, listen, message):
    with pytest.raises(FaultProxyError, match=message):
        parse_endpoint(text, listen=listen)


def test_the_library_refuses_other_addresses_too():
    with pytest.raises(FaultProxyError, match="only connects to loopback"):
        FaultProxy(("192.168.1.1", 5222))
    with pytest.raises(FaultProxyError, match=r"only on loopback addresses \(127\.0\.0\.0/8 or ::1\)"):
        FaultProxy(("127.0.0.1", 5222), listen=("0.0.0.0", 0))


def test_a_plan_is_seconds_or_bytes_and_a_stall_needs_one():
    with pytest.raises(FaultProxyError, match="not both"):
        FaultPlan(cut_every_seconds=1.0, cut_every_bytes=10)
    with pytest.raises(FaultProxyError, match="--stall needs --cut-every"):
        FaultPlan(stall=1.0)
    assert FaultPlan(cut_every_seconds=2.0, stall=0.5).describe() == "a stall of 0.5s every 2s"


def invoke(*args: str):
    return CliRunner().invoke(command, list(args))


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--listen", "0", "--to", "10.1.2.3:5222"],
            "Error: Invalid value for '--to': refusing 10.1.2.3: the fault proxy only connects to loopback addresses",
        ),
        (
            ["--listen", "0.0.0.0:5300", "--to", "127.0.0.1:5222"],
            "Error: Invalid value for '--listen': refusing to listen on 0.0.0.0: only on loopback addresses "
            "(127.0.0.0/8 or ::1)",
        ),
        (
            ["--listen", "0", "--to", "127.0.0.1:5222", "--cut-every", "often"],
            "Error: Invalid value for '--cut-every': --cut-every must be SECONDS (2s, 500ms) or BYTES (64kb, 1mb), "
            "not 'often'",
        ),
        (
            ["--listen", "0", "--to", "127.0.0.1:5222", "--stall", "2"],
            "Error: --stall needs --cut-every: it replaces each cut with a stall of that length",
        ),
        (
            ["--listen", "0", "--to", "127.0.0.1:5222", "--for", "7200"],
            "Error: Invalid value for '--for': --for is at most 3600s (one hour), not '7200'",
        ),
        (["--listen", "0"], "Error: Missing option '--to'."),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, error):
    result = invoke(*args)
    assert result.exit_code == 2
    assert last_line(result.output) == error
    assert "Traceback" not in result.output


def test_a_port_already_taken_exits_3_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("--listen", str(port), "--to", "127.0.0.1:5222", "--for", "1")
    assert result.exit_code == 3
    assert last_line(result.output).startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.output


def test_a_run_ends_by_itself_and_prints_its_counts():
    result = invoke("--listen", "0", "--to", "127.0.0.1:5222", "--cut-every", "2s", "--for", "0.2")
    assert result.exit_code == 0, result.output
    first, last = result.output.strip().splitlines()
    assert first.startswith("LISTENING 127.0.0.1:") and first.endswith(
        "-> 127.0.0.1:5222 (a cut every 2s, for at most 0.2s)"
    )
    assert last == ("fault-proxy: 0 connection(s), 0 cut(s), 0 stall(s), 0 bytes to the server, 0 bytes to the client")


def test_kib_and_mib_are_the_same_as_kb_and_mb():
    from xmpp_ext.faultproxy import parse_cut_every

    assert parse_cut_every("64kib") == parse_cut_every("64kb")
    assert parse_cut_every("1MiB") == parse_cut_every("1mb")


@pytest.mark.parametrize("listen", ["0", "127.1.2.3:0"])
def test_quiet_still_says_where_it_listens(listen):
    result = invoke("--listen", listen, "--to", "127.0.0.1:5222", "-q", "--for", "0.2")
    assert result.exit_code == 0, result.output
    first, last = result.output.strip().splitlines()
    host = listen.rpartition(":")[0] or "127.0.0.1"
    assert first.startswith(f"LISTENING {host}:")
    port = int(first.split()[1].rpartition(":")[2])
    assert port != 0
    assert last.startswith("fault-proxy: 0 connection(s)")
