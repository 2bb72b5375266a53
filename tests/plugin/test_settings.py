"""The plugin's settings and its errors, checked offline with pytester (no server is started)."""

from __future__ import annotations

import socket

import pytest

from xmpp_ext.pytest_plugin import SETTINGS_KEY

ASYNCIO_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
USES_SERVER = """
def test_uses_the_server(xmpp_server):
    assert xmpp_server.port
"""


@pytest.fixture(autouse=True)
def _inner_project(pytester, monkeypatch):
    """The inner pytest sees only the settings each test gives it, and pytest-asyncio's as a user sets them."""
    for name in ("SERVER", "NODES", "DOMAIN", "HOST", "PORT", "CA_CERT", "ACCOUNTS_FILE", "REGISTER", "SCENARIOS"):
        monkeypatch.delenv(f"XMPPEXT_TEST_{name}", raising=False)
    pytester.makeini(ASYNCIO_INI)


def test_option_beats_ini_beats_environment(pytester, monkeypatch):
    monkeypatch.setenv("XMPPEXT_TEST_SERVER", "ejabberd")
    assert pytester.parseconfigure().stash[SETTINGS_KEY].kinds == ("ejabberd",)
    pytester.makeini(ASYNCIO_INI + "xmpp_server = prosody\n")
    assert pytester.parseconfigure().stash[SETTINGS_KEY].kinds == ("prosody",)
    assert pytester.parseconfigure("--xmpp-server", "all").stash[SETTINGS_KEY].kinds == ("ejabberd", "prosody")


def test_default_is_prosody(pytester):
    assert pytester.parseconfigure().stash[SETTINGS_KEY].kinds == ("prosody",)


def test_all_parametrizes_each_dependent_test_over_both_servers(pytester):
    pytester.makepyfile(USES_SERVER + "\ndef test_without_server():\n    assert True\n")
    result = pytester.runpytest("--xmpp-server", "all", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "*test_uses_the_server[[]ejabberd[]]",
            "*test_uses_the_server[[]prosody[]]",
            "*test_without_server",
        ]
    )
    result.stdout.fnmatch_lines(["3 tests collected*"])


@pytest.mark.parametrize("how", ["option", "environment"])
def test_unknown_server_is_a_usage_error(pytester, monkeypatch, how):
    pytester.makepyfile(USES_SERVER)
    if how == "environment":
        monkeypatch.setenv("XMPPEXT_TEST_SERVER", "openfire")
        result = pytester.runpytest()
    else:
        result = pytester.runpytest("--xmpp-server", "openfire")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --xmpp-server / ini xmpp_server / XMPPEXT_TEST_SERVER: unknown XMPP server 'openfire'; "
            "known: ejabberd, prosody, all, external"
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "*an external XMPP server needs its domain: --xmpp-domain*"),
        (["--xmpp-domain", "example.net"], "*needs a way to get accounts: --xmpp-accounts-file*"),
        (["--xmpp-domain", "example.net", "--xmpp-register", "true", "--xmpp-port", "x"], "*'x' is not a TCP port*"),
        (["--xmpp-domain", "example.net", "--xmpp-accounts-file", "/nonexistent"], "*no such file: /nonexistent"),
    ],
)
def test_incomplete_external_settings_are_usage_errors(pytester, args, message):
    pytester.makepyfile(USES_SERVER)
    result = pytester.runpytest("--xmpp-server", "external", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_external_server_that_does_not_answer_is_an_error(pytester):
    pytester.makepyfile(USES_SERVER)
    # Bound but not listening: connections to it are refused for as long as we hold it.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        result = pytester.runpytest(
            "--xmpp-server=external",
            "--xmpp-domain=localhost",
            "--xmpp-host=127.0.0.1",
            f"--xmpp-port={port}",
            "--xmpp-register=true",
        )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*xmpp_server (external): the external XMPP server localhost does not answer at 127.0.0.1:{port} (*"]
    )


@pytest.mark.parametrize(("kind", "program"), [("prosody", "prosody"), ("ejabberd", "ejabberdctl")])
def test_server_not_installed_says_which_package_to_install(pytester, monkeypatch, tmp_path, kind, program):
    pytester.makepyfile(USES_SERVER)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = pytester.runpytest("--xmpp-server", kind)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*xmpp_server ({kind}): {kind} is not installed (no {program} on PATH)*apt-get install {kind}*"]
    )


def test_xmpp_client_without_pytest_asyncio_says_what_to_install(pytester):
    pytester.makepyfile("def test_client(xmpp_client):\n    assert xmpp_client\n")
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*xmpp_client is an async fixture and needs pytest-asyncio*"])


def test_pre_made_accounts_are_split_between_xdist_workers():
    from types import SimpleNamespace

    from xmpp_ext.pytest_plugin.servers import worker_share, xdist_worker

    accounts = ["a", "b", "c", "d", "e"]
    shares = [worker_share(accounts, index, 2) for index in range(2)]
    assert shares == [["a", "c", "e"], ["b", "d"]]
    assert worker_share(accounts, *xdist_worker(SimpleNamespace())) == accounts  # not under xdist: all
    worker = SimpleNamespace(workerinput={"workerid": "gw1", "workercount": 2})
    assert xdist_worker(worker) == (1, 2)


def test_a_conftest_may_override_xmpp_server_with_its_own_parameters(pytester):
    pytester.makeconftest(
        """
import pytest

@pytest.fixture(scope="session", params=["mine"])
def xmpp_server(request):
    return request.param
"""
    )
    pytester.makepyfile("def test_server(xmpp_server):\n    assert xmpp_server == 'mine'\n")
    result = pytester.runpytest("--xmpp-server", "all", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_server[[]mine[]] PASSED*"])


def test_nodes_make_the_ejabberd_server_a_cluster_and_default_to_one(pytester, monkeypatch):
    assert pytester.parseconfigure().stash[SETTINGS_KEY].nodes == 1
    settings = pytester.parseconfigure("--xmpp-server", "ejabberd", "--xmpp-nodes", "2").stash[SETTINGS_KEY]
    assert (settings.kinds, settings.nodes) == (("ejabberd",), 2)
    monkeypatch.setenv("XMPPEXT_TEST_SERVER", "ejabberd")
    pytester.makeini(ASYNCIO_INI + "xmpp_nodes = 3\n")
    assert pytester.parseconfigure().stash[SETTINGS_KEY].nodes == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--xmpp-server", "prosody", "--xmpp-nodes", "2"], "*only ejabberd runs as a cluster here; set *"),
        (["--xmpp-server", "all", "--xmpp-nodes", "2"], "*only ejabberd runs as a cluster here; set *"),
        (["--xmpp-server", "ejabberd", "--xmpp-nodes", "9"], "*'9' is not a number of nodes from 1 to 8"),
        (["--xmpp-server", "ejabberd", "--xmpp-nodes", "two"], "*'two' is not a number of nodes from 1 to 8"),
    ],
)
def test_bad_nodes_are_a_usage_error(pytester, args, message):
    pytester.makepyfile(USES_SERVER)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --xmpp-nodes / ini xmpp_nodes / XMPPEXT_TEST_NODES: " + message])
