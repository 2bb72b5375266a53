"""The README's example test, run by pytest inside pytest on real servers, and what surrounds it.

These tests start their servers through the inner pytest's fixtures (the
thing under test), or point its ``external`` mode at the suite's own server.
"""

from __future__ import annotations

import pytest

from tests.plugin.readme_example import CUT_EXAMPLE_NAME, EXAMPLE_NAME, cut_example_test, example_ini, example_test

pytestmark = pytest.mark.integration

INI = example_ini()

# Beside the example, in the same inner session: what a user sees when things go wrong, and isolation.
COMPANIONS = """
import pytest

from xmpp_ext.pytest_plugin import StanzaTimeout, wait_for_stanza

made = []
clients = []


def test_a_failing_test_shows_the_server_log(xmpp_server, xmpp_account):
    made.append(xmpp_account())
    assert False, "failing on purpose"


@pytest.mark.asyncio
async def test_accounts_of_earlier_tests_are_gone(xmpp_server, xmpp_client):
    from xmpp_ext.session import ConnectError

    assert made and made[0] not in xmpp_server.accounts
    with pytest.raises(ConnectError, match="authentication failed"):
        await xmpp_client(made[0])


def never(stanza):
    return False


@pytest.mark.asyncio
async def test_no_matching_stanza_fails_in_time(xmpp_client):
    client = await xmpp_client()
    clients.append(client)
    with pytest.raises(StanzaTimeout, match="no stanza matching never within 0.3s"):
        await wait_for_stanza(client, never, timeout=0.3)
    await wait_for_stanza(client, never, timeout=0.3)  # uncaught: the test fails, it does not error


def test_clients_of_earlier_tests_were_disconnected():
    assert clients and clients[0].transport is None
"""


def inner_project(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(**{EXAMPLE_NAME[: -len(".py")]: example_test(), "test_companions": COMPANIONS})


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # A subprocess: the inner session starts and stops its own server, as a user's would.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *args, timeout=240)


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
def test_readme_example_passes_on_a_local_server(pytester, monkeypatch, kind):
    monkeypatch.delenv("XMPPEXT_TEST_SERVER", raising=False)
    inner_project(pytester)
    result = run_inner(pytester, "--xmpp-server", kind)
    result.assert_outcomes(passed=3, failed=2)
    for line in (
        f"PASSED {EXAMPLE_NAME}::test_example_tag_iq_between_two_clients[[]{kind}[]]",
        f"PASSED test_companions.py::test_accounts_of_earlier_tests_are_gone[[]{kind}[]]",
        "PASSED test_companions.py::test_clients_of_earlier_tests_were_disconnected",
        f"FAILED test_companions.py::test_a_failing_test_shows_the_server_log[[]{kind}[]]*",
        f"FAILED test_companions.py::test_no_matching_stanza_fails_in_time[[]{kind}[]]*",
    ):
        result.stdout.fnmatch_lines([line])
    result.stdout.fnmatch_lines(["E   *StanzaTimeout: *: no stanza matching never within 0.3s"])
    result.stdout.fnmatch_lines([f"*- {kind} log (last lines) -*"])
    # Clients were closed in their own loop: nothing left for the loop's or the interpreter's teardown.
    for trouble in ("Event loop is closed", "Task was destroyed", "never awaited", "Unclosed"):
        assert trouble not in result.stdout.str() + result.stderr.str()


def test_readme_example_against_an_external_server(pytester, monkeypatch, tmp_path, xmpp_server, xmpp_account):
    """The suite's own server, described to the inner session as one someone else runs."""
    monkeypatch.delenv("XMPPEXT_TEST_SERVER", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(**{EXAMPLE_NAME[: -len(".py")]: example_test()})
    args = [
        "--xmpp-server=external",
        f"--xmpp-domain={xmpp_server.domain}",
        f"--xmpp-host={xmpp_server.host}",
        f"--xmpp-port={xmpp_server.port}",
        f"--xmpp-ca-cert={xmpp_server.ca_cert}",
    ]
    if xmpp_server.kind == "ejabberd":  # registration is open on loopback there
        args.append("--xmpp-register=true")
    else:
        accounts = tmp_path / "accounts.txt"
        accounts.write_text("".join(f"{a.jid} {a.password.reveal()}\n" for a in (xmpp_account(), xmpp_account())))
        accounts.chmod(0o600)
        args.append(f"--xmpp-accounts-file={accounts}")
    result = run_inner(pytester, *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"PASSED {EXAMPLE_NAME}::test_example_tag_iq_between_two_clients[[]external[]]"])


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
def test_readme_fault_proxy_example_cuts_mid_exchange_and_passes(pytester, monkeypatch, kind):
    monkeypatch.delenv("XMPPEXT_TEST_SERVER", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(**{CUT_EXAMPLE_NAME[: -len(".py")]: cut_example_test()})
    result = run_inner(pytester, "--xmpp-server", kind)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"PASSED {CUT_EXAMPLE_NAME}::test_an_iq_survives_a_cut_mid_exchange[[]{kind}[]]"])
