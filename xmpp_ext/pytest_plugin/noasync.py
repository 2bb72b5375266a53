"""``xmpp_client`` and ``xmpp_fault_proxy`` without pytest-asyncio: an error that says what to install, never a skip."""

from __future__ import annotations

import pytest


def _needs_asyncio(name: str) -> None:
    pytest.fail(
        f"{name} is an async fixture and needs pytest-asyncio: pip install 'xmppext[pytest]' "
        "(or pytest-asyncio>=1.0), and do not disable it with -p no:asyncio",
        pytrace=False,
    )


@pytest.fixture
def xmpp_client():
    _needs_asyncio("xmpp_client")


@pytest.fixture
def xmpp_fault_proxy():
    _needs_asyncio("xmpp_fault_proxy")
