"""``xmpp_client`` without pytest-asyncio: an error that says what to install, never a skip."""

from __future__ import annotations

import pytest


@pytest.fixture
def xmpp_client():
    pytest.fail(
        "xmpp_client is an async fixture and needs pytest-asyncio: pip install 'xmppext[pytest]' "
        "(or pytest-asyncio>=1.0), and do not disable it with -p no:asyncio",
        pytrace=False,
    )
