"""Loading the plugin: registered for pytest, and cheap for projects that never use its fixtures."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from xmpp_ext.pytest_plugin import settings
from xmpp_ext.servers import SERVERS

# What loading the plugin must not import: the client (and with it slixmpp), asyncio, the
# server code and cryptography are for tests that use a fixture.
HEAVY = ("slixmpp", "asyncio", "cryptography", "pytest_asyncio", "xmpp_ext.session.client", "xmpp_ext.servers")


def test_registered_through_the_pytest11_entry_point():
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert plugins.get("xmppext") == "xmpp_ext.pytest_plugin"


def test_importing_the_plugin_imports_nothing_heavy():
    code = "import json, sys; import xmpp_ext.pytest_plugin; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    heavy = [name for name in loaded if any(name == root or name.startswith(root + ".") for root in HEAVY)]
    assert heavy == []
    assert "xmpp_ext.pytest_plugin" in loaded  # the check itself saw the import


def test_the_stanza_helpers_load_on_first_use():
    code = (
        "import sys; import xmpp_ext.pytest_plugin as plugin; assert 'slixmpp' not in sys.modules; "
        "print(plugin.expect_stanza.__module__, plugin.StanzaTimeout.__mro__[1].__name__, 'slixmpp' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["xmpp_ext.pytest_plugin.stanzas", "AssertionError", "True"]


def test_the_settings_know_every_local_server():
    assert tuple(sorted(SERVERS)) == settings.LOCAL_KINDS


@pytest.mark.parametrize("asyncio_plugin", ["with pytest-asyncio", "without pytest-asyncio"])
def test_a_session_that_uses_no_fixture_imports_nothing_heavy(pytester, asyncio_plugin):
    """The plugin's hooks run in every session of every project that installed xmppext.

    pytest-asyncio, when loaded, imports asyncio itself: only the rest is the plugin's to avoid.
    """
    with_asyncio = asyncio_plugin == "with pytest-asyncio"
    heavy = tuple(name for name in HEAVY if not (with_asyncio and name in ("asyncio", "pytest_asyncio")))
    pytester.makepyfile(
        f"""
import sys

def test_nothing_heavy_loaded():
    heavy = [name for name in sys.modules if name.split(".")[0] in {heavy!r} or name in {heavy!r}]
    assert heavy == [], heavy
"""
    )
    args = ["-p", "no:cacheprovider"] + ([] if with_asyncio else ["-p", "no:asyncio"])
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    assert "xmppext" in result.stdout.str()  # "plugins: ..." shows the plugin was loaded
