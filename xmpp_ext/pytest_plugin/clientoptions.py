"""What ``xmpp_client`` makes of its options: plugins by name, where to connect (the fault proxy), resumption."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import pytest
from slixmpp.plugins.base import PLUGIN_REGISTRY

from xmpp_ext.session import ReconnectPolicy, Session, StreamManagement

#: How long a cut client of ``stream_management=True`` keeps trying to come back (a test must end).
RECONNECT_FOR = 30.0


class Address(Protocol):
    """Where to connect instead of the server (the ``xmpp_fault_proxy`` fixture is one)."""

    host: str
    port: int


def address_overrides(through: Address | None) -> dict[str, Any]:
    """The settings that send a client to ``through`` (its TLS is still checked against the server's name and CA)."""
    return {} if through is None else {"host": through.host, "port": through.port}


def plugin_configs(plugins: Iterable[str] | Mapping[str, dict | None]) -> dict[str, dict | None]:
    """``plugins`` (names, or names mapped to config dicts) as a mapping; a name nobody registered fails the test.

    Checked before slixmpp is asked: for an unknown name it logs an import
    traceback and raises a bare PluginNotFound, which says neither which
    plugin nor what to do.
    """
    configs = dict(plugins) if isinstance(plugins, Mapping) else dict.fromkeys(plugins)
    for name in configs:
        if name not in PLUGIN_REGISTRY and not _bundled_with_slixmpp(name):
            pytest.fail(
                f"xmpp_client: no slixmpp plugin named {name!r} is registered. Import the module that registers it "
                f"(the one calling slixmpp.plugins.base.register_plugin for a plugin whose name is {name!r}) before "
                "asking for it, e.g. at the top of the test module or in conftest.py; if that import fails, make its "
                "directory importable (pytest's pythonpath ini option, or pip install -e your project)",
                pytrace=False,
            )
    return configs


def _bundled_with_slixmpp(name: str) -> bool:
    """Whether slixmpp can load ``name`` itself (its own plugins: xep_0030, xep_0199, ...)."""
    if not name.isidentifier():
        return False
    return any(importlib.util.find_spec(f"slixmpp.{package}.{name}") for package in ("plugins", "features"))


def resumable_options() -> dict[str, Any]:
    """The Session options of ``stream_management=True``: XEP-0198 with resumption, and a cut client comes back."""
    return {"stream_management": StreamManagement(), "reconnect": ReconnectPolicy(give_up_after=RECONNECT_FOR)}


def test_disconnect_is_final(session: Session) -> None:
    """A test that disconnects its client means it: the session must not take that for a cut and come back."""
    client = session.client
    disconnect = client.disconnect

    def disconnect_on_purpose(*args: Any, **kwargs: Any):
        session.stop_reconnecting()
        return disconnect(*args, **kwargs)

    client.disconnect = disconnect_on_purpose  # type: ignore[method-assign]
