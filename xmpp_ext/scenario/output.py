"""What ``xmppext scenario`` prints: lines for people, or one JSON object per step, script and difference.

Text (terminal-safe: see TextOutput): each step with its verdict and latency, a failed ``receives:`` followed
by its side-by-side report, a verdict line per script, server differences
(``--server all``), then ``N scripts: P passed, F failed``. With several
servers, N counts each script once per server.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from xmpp_ext.scenario.compare import ServerDifference
from xmpp_ext.scenario.runner import ScriptResult, StepResult, StepStatus
from xmpp_ext.scenario.sidebyside import FILE_WIDTH, terminal_width
from xmpp_ext.util.display import printable

Echo = Callable[[str], None]
_SHOWN = {
    StepStatus.PASSED: "ok",
    StepStatus.FAILED: "FAILED",
    StepStatus.ERROR: "ERROR",
    StepStatus.NOT_RUN: "not run",
}


def milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class TextOutput:
    def __init__(self, echo: Echo, width: int | None = None) -> None:
        """``width``: the columns reports are laid out for (default: the terminal's, or COLUMNS)."""
        # Every line holds text from a script or a server (client names, JIDs, stanzas): no control or
        # bidirectional character reaches the terminal as itself.
        self.echo: Echo = lambda line: echo(printable(line))
        self.width = width or terminal_width()

    def script(self, result: ScriptResult) -> None:
        title = f"  ({result.script.title})" if result.script.title else ""
        self.echo(f"{result.script.path} on {result.server}{title}")
        for step in result.steps:
            latency = "" if step.seconds is None else f"{step.seconds * 1000:9.1f} ms"
            message = f"  {step.message}" if step.message else ""
            self.echo(f"  line {step.line:<4} {step.action:<32} {_SHOWN[step.status]:<7}{latency}{message}")
            for row in step.report_lines(self.width - 4):
                self.echo(f"    {row}")
        self.echo(verdict(result))

    def differences(self, results: list[ScriptResult], found: list[ServerDifference]) -> None:
        servers = " and ".join(result.server for result in results)
        path = results[0].script.path
        if not found:
            self.echo(f"{path}: {servers} answered alike")
            return
        self.echo(f"{path}: {servers} differ:")
        for difference in found:
            self.echo(f"  {difference}")

    def summary(self, results: list[ScriptResult]) -> None:
        self.echo(summary_line(results))


class JsonOutput:
    def __init__(self, echo: Echo) -> None:
        self.echo = echo

    def script(self, result: ScriptResult) -> None:
        for step in result.steps:
            self.echo(json.dumps(step_object(result, step)))
        failed = sum(step.status in (StepStatus.FAILED, StepStatus.ERROR) for step in result.steps)
        self.echo(
            json.dumps(
                {
                    "type": "script",
                    "script": str(result.script.path),
                    "title": result.script.title,
                    "tags": result.script.tags,
                    "server": result.server,
                    "status": result.status,
                    "steps": len(result.steps),
                    "failed_steps": failed,
                    "ms": milliseconds(result.seconds),
                }
            )
        )

    def differences(self, results: list[ScriptResult], found: list[ServerDifference]) -> None:
        for difference in found:
            self.echo(
                json.dumps(
                    {
                        "type": "difference",
                        "script": str(results[0].script.path),
                        "servers": [result.server for result in results],
                        "line": difference.line,
                        "action": difference.action,
                        "detail": difference.detail,
                    }
                )
            )

    def summary(self, results: list[ScriptResult]) -> None:
        passed = sum(result.status == StepStatus.PASSED for result in results)
        self.echo(json.dumps({"summary": {"scripts": len(results), "passed": passed, "failed": len(results) - passed}}))


def step_object(result: ScriptResult, step: StepResult) -> dict[str, object]:
    return {
        "type": "step",
        "script": str(result.script.path),
        "server": result.server,
        "line": step.line,
        "action": step.action,
        "status": step.status,
        "ms": milliseconds(step.seconds),
        "message": step.message,
        "expected": step.expected,
        "received": step.received_xml(),
        "diff": step.report_lines(FILE_WIDTH),
    }


def verdict(result: ScriptResult) -> str:
    where = f"{result.script.path} on {result.server}"
    steps = len(result.steps)
    if result.status == StepStatus.PASSED:
        return f"PASSED {where}: {steps} steps in {result.seconds * 1000:.1f} ms"
    problem = result.first_problem
    assert problem is not None
    if result.status == StepStatus.ERROR:
        return f"ERROR {where}: line {problem.line} {problem.action}: {problem.message}"
    failed = sum(step.status == StepStatus.FAILED for step in result.steps)
    return f"FAILED {where}: {failed} of {steps} steps failed, first at line {problem.line} ({problem.action})"


def summary_line(results: list[ScriptResult]) -> str:
    passed = sum(result.status == StepStatus.PASSED for result in results)
    noun = "script" if len(results) == 1 else "scripts"
    return f"{len(results)} {noun}: {passed} passed, {len(results) - passed} failed"
