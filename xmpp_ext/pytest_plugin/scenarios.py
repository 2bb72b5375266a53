"""``*.scs`` Scansion scripts collected as tests: one per script and server, on the ``xmpp_server`` fixture.

Opt-in (``xmpp_scenarios = true``). Each script file becomes a module-like
collector holding one test function that asks for ``xmpp_server``, so the
plugin's own parametrization gives one item per server (``greeting.scs::
greeting[prosody]``, ``[ejabberd]``) and pytest-xdist distributes them like
any test. A script that does not parse is a collection error naming
``file:line``; a failed run's report is the scenario's own text output, the
side-by-side diff included.

Only pytest and the standard library are imported here; the scenario runner
(and slixmpp) when a script is parsed or run.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Iterable
from pathlib import Path

import pytest

from xmpp_ext.pytest_plugin.settings import Scenarios


def test_name(path: Path) -> str:
    """The test function's name: the script's stem, as a Python-ish name (no '[' to confuse node ids)."""
    return re.sub(r"\W", "_", path.stem) or "scenario"


class ScenarioFile(pytest.Module):
    """One ``.scs`` file: parsed at collection, then a test per server."""

    def _getobj(self) -> types.ModuleType:
        # Not imported from a file: a module made here, holding the one test function.
        module = types.ModuleType(f"xmppext_scenario.{test_name(self.path)}")
        module.__file__ = str(self.path)
        name = test_name(self.path)

        def run_script_test(xmpp_server, request: pytest.FixtureRequest) -> None:
            from xmpp_ext.pytest_plugin import SETTINGS_KEY

            settings = request.config.stash[SETTINGS_KEY].scenarios
            assert settings is not None  # collected only when set
            run_collected_script(request.node.path, xmpp_server, settings)

        run_script_test.__name__ = run_script_test.__qualname__ = name
        run_script_test.__module__ = module.__name__
        setattr(module, name, run_script_test)
        return module

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from xmpp_ext.scenario.script import ScriptError, load

        try:
            load(self.path)
        except ScriptError as exc:
            raise self.CollectError(str(exc)) from None
        return super().collect()

    def istestfunction(self, obj: object, name: str) -> bool:
        return name == test_name(self.path)  # whatever python_functions says


def run_collected_script(path: Path, server, settings: Scenarios) -> None:
    """Run the script at ``path`` on ``server`` with fresh accounts; pytest.fail with its report unless it passed."""
    from xmpp_ext.scenario.local import run_on_server
    from xmpp_ext.scenario.output import TextOutput
    from xmpp_ext.scenario.responder import RESPONDER_VARIABLE
    from xmpp_ext.scenario.runner import StepStatus
    from xmpp_ext.scenario.script import ScriptError, load, resolve_properties, unset_environment

    provided = [RESPONDER_VARIABLE] if settings.responder is not None else []
    try:
        script = load(path)
        unset = unset_environment(script, os.environ, provided)
        if unset:
            names = ", ".join(sorted({variable.key for variable in unset}))
            pytest.fail(f"{path}:{unset[0].line}: environment variable(s) not set: {names}", pytrace=False)
        resolve_properties(script, os.environ)
    except ScriptError as exc:
        pytest.fail(str(exc), pytrace=False)
    result = run_on_server(script, server, settings.timeout, os.environ, settings.responder)
    if result.status != StepStatus.PASSED:
        lines: list[str] = []
        TextOutput(lines.append).script(result)
        pytest.fail("\n".join(lines), pytrace=False)
