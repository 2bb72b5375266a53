"""Fixtures every test shares: slixmpp as shipped, or patched on request.

The real XMPP server and its accounts come from xmppext's own pytest plugin
(xmpp_ext.pytest_plugin, loaded through its pytest11 entry point: the editable
install in .venv provides it), the same fixtures users get; the integration
tests' additions are in tests/integration/conftest.py. Which server:
XMPPEXT_TEST_SERVER (or --xmpp-server) = prosody (the default), ejabberd, or
all (every integration test runs against each). A missing server is a test
error, never a skip: run scripts/setup (scripts/test does) to install it.
"""

from __future__ import annotations

import pytest

# The pytest plugin's own tests (tests/plugin) run pytest inside pytest.
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _slixmpp_unpatched():
    """Every test starts and ends with slixmpp as shipped, whatever an earlier test applied."""
    from xmpp_ext.session import patches

    patches.revert()
    yield
    patches.revert()


@pytest.fixture
def patched_slixmpp():
    """slixmpp with xmpp_ext.session.patches applied, as the command's clients run it."""
    from xmpp_ext.session import patches

    assert patches.apply()
    yield
    patches.revert()
