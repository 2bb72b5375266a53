"""A user's slixmpp plugin named ``module:Class`` (``respond --plugin``, ``load --responder-plugin``), imported
and registered by its name.

The module is imported the way ``python -m`` would find it: from ``sys.path``
with the current directory first (the ``xmppext`` script alone would not look
there). Whatever goes wrong is one line naming the module or class and what
to do, never a traceback: a module that is not found, one that fails while
importing, a missing attribute, something that is not a BasePlugin class, or
a plugin that cannot start (a dependency slixmpp cannot find, a
``plugin_init`` that raises: tried on a client that never connects, before
anything is sent).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import slixmpp
from slixmpp.plugins.base import BasePlugin, PluginNotFound, register_plugin


class PluginLoadError(Exception):
    """The plugin cannot be loaded: one line saying which and why."""


def load_plugin(spec: str) -> type[BasePlugin]:
    """The BasePlugin subclass ``spec`` (``module:Class``) names, registered with slixmpp under its ``name``."""
    module_name, colon, class_name = spec.partition(":")
    if not colon or not module_name or not class_name:
        raise PluginLoadError(f"{spec!r} is not module:Class (e.g. greeting.plugin:GreetingPlugin)")
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            raise PluginLoadError(
                f"no module named {exc.name!r} (looked in the current directory and sys.path): run xmppext where the "
                "module is, add its directory to PYTHONPATH, or pip install -e your project"
            ) from None
        raise PluginLoadError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:  # the user's module: anything may fail while it is imported
        raise PluginLoadError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    plugin = getattr(module, class_name, None)
    if plugin is None:
        raise PluginLoadError(f"module {module_name!r} has no {class_name!r}")
    if not (isinstance(plugin, type) and issubclass(plugin, BasePlugin)):
        raise PluginLoadError(f"{spec} is not a slixmpp plugin (a subclass of slixmpp.plugins.BasePlugin)")
    if not isinstance(getattr(plugin, "name", None), str) or not plugin.name:
        raise PluginLoadError(f"{spec} has no name of its own (set the class attribute name = '...')")
    register_plugin(plugin)
    _check_it_starts(plugin, module_name)
    return plugin


def _check_it_starts(plugin: type[BasePlugin], module_name: str) -> None:
    """Register ``plugin`` on a client that never connects: its dependencies must exist, its plugin_init run."""
    client = slixmpp.ClientXMPP("plugin-check@localhost", "unused")
    slixmpp_loader = logging.getLogger("slixmpp.plugins.base")  # logs each failure with a traceback of its own
    level = slixmpp_loader.level
    slixmpp_loader.setLevel(logging.CRITICAL)
    try:
        client.register_plugin(plugin.name)
    except PluginNotFound as exc:
        raise PluginLoadError(
            f"{plugin.name} depends on a plugin slixmpp cannot find: {exc} (import the module that registers it "
            f"from {module_name!r}, or fix its dependencies)"
        ) from None
    except Exception as exc:  # the user's plugin_init: anything may fail
        raise PluginLoadError(f"{plugin.name} cannot start: {type(exc).__name__}: {exc}") from None
    finally:
        slixmpp_loader.setLevel(level)
