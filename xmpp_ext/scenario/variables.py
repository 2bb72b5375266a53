"""The values of a script's ``${...}`` while it runs: JIDs, captures, XMPPEXT_SCENARIO_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping

from xmpp_ext.scenario.script import MARK, Script


class VariableError(Exception):
    """A variable has no value (yet): the message names it and says why."""


class Variables:
    def __init__(self, script: Script, environ: Mapping[str, str] | None = None) -> None:
        self.script = script
        self.environ = os.environ if environ is None else environ
        self.full_jids: dict[str, str] = {}  # client name -> the JID the server bound
        self.captures: dict[str, str] = {}

    def fill(self, text: str) -> str:
        """``text`` with every variable mark replaced by its value; VariableError if one has none."""
        if "\ue000" not in text:
            return text
        return MARK.sub(lambda match: self.value(int(match.group(1))), text)

    def show(self, text: str) -> str:
        """``text`` for a report: like ``fill``, but a variable without a value stays ``${...}``."""

        def shown(match) -> str:
            try:
                return self.value(int(match.group(1)))
            except VariableError:
                return "${" + self.script.variables[int(match.group(1))].name + "}"

        return MARK.sub(shown, text) if "\ue000" in text else text

    def value(self, index: int) -> str:
        variable = self.script.variables[index]
        if variable.kind == "bare":
            # As written in the definition: Scansion's ${Name's JID} keeps a resource the jid: line gives.
            return self.script.clients[variable.key].jid
        if variable.kind == "full":
            if variable.key in self.full_jids:
                return self.full_jids[variable.key]
            client = self.script.clients[variable.key]
            if client.resource:  # known before connecting: the definition names it
                return f"{client.bare_jid}/{client.resource}"
            raise VariableError(
                f"${{{variable.name}}} has no value yet: {variable.key} has not connected "
                "and its definition names no resource"
            )
        if variable.kind == "capture":
            if variable.key in self.captures:
                return self.captures[variable.key]
            raise VariableError(f"${{{variable.name}}} has no value: the stanza that captures it was not received")
        value = self.environ.get(variable.key)
        if not value:
            raise VariableError(f"${{{variable.name}}}: the environment variable {variable.key} is not set")
        return value
