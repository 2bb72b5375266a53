"""The ``xmppext`` process's start-up: what it costs is most of a one-shot send.

A one-shot ``xmppext send`` spends far more time starting Python and importing
modules than talking to the server. ``main`` (the console script) trims that
before handing over to the Click CLI, without changing what the CLI does:

- ``slixmpp.version`` asks ``importlib.metadata`` for slixmpp's version, and
  importing ``importlib.metadata`` pulls in email, zipfile, csv and more (the
  largest single cost of ``import slixmpp``). The same version is read here
  from the installed distribution's METADATA file instead.
- ``slixmpp.xmlstream.resolver`` imports aiodns (with pycares and cffi) for
  DNS SRV lookups, which a connection to an explicit ``--host`` never makes.
  aiodns is registered as a stand-in that imports the real module, unchanged,
  the first time slixmpp resolves a domain through it.
- Imports create a few hundred thousand objects that live as long as the
  process; the cyclic garbage collector would traverse them again and again.
  It is paused while importing, then those objects are frozen out of its
  sight (``gc.freeze``), which also makes collections during a burst cheaper;
  frozen again at exit, they spare the interpreter's final full collection.

Library users of ``xmpp_ext`` (and tests driving ``xmpp_ext.cli`` directly) get
slixmpp and the collector untouched. Whenever anything is unusual (slixmpp
already imported, an editable or zipped install, a version slixmpp itself
would warn about) the ordinary import is left to happen.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
import types


def main() -> None:
    """The ``xmppext`` console script: trimmed start-up, then the Click CLI."""
    gc.disable()
    try:
        defer_slow_imports()
        from xmpp_ext.cli import main as cli_main

        import_command_module(sys.argv[1:])  # the bulk of start-up: asyncio, ssl, slixmpp
    except KeyboardInterrupt:
        # Ctrl-C before any command ran: nothing to close, one line and the documented code.
        from xmpp_ext.util.exitcodes import ExitCode

        sys.stderr.write("interrupted (SIGINT)\n")
        sys.exit(ExitCode.INTERRUPTED)
    finally:
        gc.freeze()
        gc.enable()
    try:
        cli_main()
    finally:
        gc.freeze()


def import_command_module(arguments: list[str]) -> None:
    """Import the module of the command ``arguments`` name now, while the collector is paused.

    The root group would import it anyway (lazily, when it looks the command
    up); doing it here keeps those imports out of the collector's sight too.
    """
    from xmpp_ext.cli import COMMANDS

    if arguments and arguments[0] in COMMANDS:
        importlib.import_module(COMMANDS[arguments[0]])


def defer_slow_imports() -> None:
    """Pre-register ``slixmpp.version`` and a lazy ``aiodns`` if slixmpp is not imported yet."""
    if "slixmpp" in sys.modules:
        return
    _preset_slixmpp_version()
    _defer("aiodns")


def _preset_slixmpp_version() -> None:
    version = _installed_version("slixmpp")
    if version is None:
        return
    try:
        # slixmpp's own rule: the first three dotted parts, all numbers.
        version_info = tuple(int(part) for part in version.split(".")[:3])
    except ValueError:
        return  # slixmpp warns about such versions; let it
    if len(version_info) != 3:
        return
    module = types.ModuleType("slixmpp.version", "slixmpp's version, read by xmpp_ext.startup")
    module.__version__ = version
    module.__version_info__ = version_info
    sys.modules["slixmpp.version"] = module


def _installed_version(name: str) -> str | None:
    """The version of the distribution installed beside package ``name``, or None if unsure."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    package_dir = os.path.abspath(next(iter(spec.submodule_search_locations)))
    return dist_info_version(os.path.dirname(package_dir), name)


def dist_info_version(site_dir: str, name: str) -> str | None:
    """The Version field of the one ``<name>-*.dist-info`` in ``site_dir``; None if not exactly one."""
    try:
        candidates = [
            entry.path
            for entry in os.scandir(site_dir)
            if entry.name.lower().startswith(f"{name}-") and entry.name.endswith(".dist-info")
        ]
    except OSError:
        return None
    if len(candidates) != 1:
        return None
    try:
        with open(os.path.join(candidates[0], "METADATA"), encoding="utf-8") as metadata:
            for line in metadata:
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
                if not line.strip():
                    break  # the headers end at the first blank line
    except OSError:
        return None
    return None


def _defer(name: str) -> None:
    """Register a stand-in for module ``name`` that imports the real one on its first attribute use."""
    if importlib.util.find_spec(name) is None:
        return  # not installed: slixmpp then does without it
    sys.modules[name] = _DeferredModule(name)


class _DeferredModule(types.ModuleType):
    """A module imported on first use of one of its attributes.

    Not ``importlib.util.LazyLoader``: on Python 3.11 the ``import`` statement
    itself reads ``__spec__`` of a module found in sys.modules, which makes a
    LazyLoader module load at once. Here ``__spec__`` is an ordinary attribute
    (None) and only names the stand-in lacks reach ``__getattr__``.
    """

    def __getattr__(self, attribute: str) -> object:
        if sys.modules.get(self.__name__) is self:  # first use: import the real module once
            del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            # Later reads through this stand-in (slixmpp keeps it as a global) hit the real names directly.
            self.__dict__.update(real.__dict__)
        return getattr(sys.modules[self.__name__], attribute)
