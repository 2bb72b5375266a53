"""Where two servers answered the same script differently, after the matching rules.

Step by step: a different verdict is a difference; so is a ``receives:``
whose stanzas differ between the servers. The stanzas are compared with the
matching rules themselves (one server's stanza as the expectation for the
other's, both ways), after each client's bound JID is replaced by its name
and the top-level attributes the script itself leaves open
(``{scansion:any}``, captures: ids the servers make up) are dropped.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from slixmpp.xmlstream import ET

from xmpp_ext.scenario.matching import Matcher
from xmpp_ext.scenario.runner import ScriptResult, StepResult, StepStatus
from xmpp_ext.scenario.script import ANY, CAPTURE, Action

MAX_DIFFERENCES = 20  # per script


@dataclass(frozen=True)
class ServerDifference:
    line: int
    action: str
    detail: str

    def __str__(self) -> str:
        return f"line {self.line} {self.action}: {self.detail}"


def differences(first: ScriptResult, second: ScriptResult) -> list[ServerDifference]:
    """What differs between two runs of one script (``first.script`` on two servers)."""
    found: list[ServerDifference] = []
    a, b = first.server, second.server
    for action, step_a, step_b in zip(first.script.actions, first.steps, second.steps, strict=False):
        if len(found) >= MAX_DIFFERENCES:
            break
        if step_a.status != step_b.status:
            found.append(ServerDifference(action.line, action.label, f"{_verdict(a, step_a)}; {_verdict(b, step_b)}"))
            continue
        if action.verb != "receives" or step_a.status == StepStatus.NOT_RUN:
            continue
        detail = _stanza_difference(action, first, step_a, second, step_b)
        if detail:
            found.append(ServerDifference(action.line, action.label, detail))
    return found


def _verdict(server: str, step: StepResult) -> str:
    return f"{server} {step.status}" + (f" ({step.message})" if step.message else "")


def _stanza_difference(
    action: Action, first: ScriptResult, step_a: StepResult, second: ScriptResult, step_b: StepResult
) -> str | None:
    if len(step_a.received) != len(step_b.received):
        return f"{first.server} received {len(step_a.received)} stanza(s), {second.server} {len(step_b.received)}"
    open_attributes = {
        key
        for expected in action.stanzas
        for key, value in expected.attrib.items()
        if value == ANY or CAPTURE.match(value)
    }
    if step_a.matched != step_b.matched and sorted(step_a.matched, key=str) == sorted(step_b.matched, key=str):
        return f"the stanzas came in another order: {first.server} {_order(step_a)}, {second.server} {_order(step_b)}"
    matcher = Matcher(str)
    for stanza_a, stanza_b in zip(step_a.received, step_b.received, strict=True):
        norm_a = _normalised(stanza_a, first, open_attributes)
        norm_b = _normalised(stanza_b, second, open_attributes)
        difference, _ = matcher.compare(norm_a, norm_b)
        if difference is not None:
            return f"{second.server} differs from {first.server} {difference}"
        difference, _ = matcher.compare(norm_b, norm_a)
        if difference is not None:
            return f"{first.server} differs from {second.server} {difference}"
    return None


def _order(step: StepResult) -> str:
    return " then ".join(_short(stanza) for stanza in step.received)


def _short(stanza: ET.Element) -> str:
    local = stanza.tag.rpartition("}")[2]
    return f"<{local} type={stanza.get('type')!r}>" if stanza.get("type") else f"<{local}>"


def _normalised(stanza: ET.Element, result: ScriptResult, open_attributes: set[str]) -> ET.Element:
    copied = copy.deepcopy(stanza)
    for key in open_attributes:
        copied.attrib.pop(key, None)
    bound = result.bound_jids
    # Longest first: a full JID contains its bare JID.
    names = sorted(
        [(jid, f"${{{name}'s full JID}}") for name, jid in bound.items()]
        + [(jid.split("/", 1)[0], f"${{{name}'s JID}}") for name, jid in bound.items()]
        + list(result.aliases.items()),
        key=lambda pair: -len(pair[0]),
    )
    for node in copied.iter():
        for key, value in node.attrib.items():
            node.set(key, _replace(value, names))
        if node.text:
            node.text = _replace(node.text, names)
    return copied


def _replace(text: str, names: list[tuple[str, str]]) -> str:
    for jid, name in names:
        if jid in text:
            text = text.replace(jid, name)
    return text
