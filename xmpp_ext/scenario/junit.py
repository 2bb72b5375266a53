"""``--junit FILE``: JUnit XML, one test case per script and server, a failure carrying the step's diff.

The shape CI systems read (Jenkins, GitLab, GitHub test reporters): one
``<testsuite>`` per server, ``<testcase classname="scenario.SERVER"
name="SCRIPT">``; a failed step becomes ``<failure message="line N ACTION:
what">`` with the side-by-side report as its text, a connection problem an
``<error>``.
"""

from __future__ import annotations

import io
import re
from xml.etree import ElementTree

from xmpp_ext.scenario.runner import ScriptResult, StepStatus
from xmpp_ext.scenario.sidebyside import FILE_WIDTH
from xmpp_ext.util.display import printable

# What XML 1.0 forbids and printable() leaves: the noncharacters U+FFFE and U+FFFF, and lone surrogates.
_NOT_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: object) -> str:
    """``text`` with every character XML 1.0 forbids (or a terminal would obey) escaped, line breaks kept.

    Client names, messages and diffs come from scripts and servers; one ESC in them would make the
    whole report not well-formed, and CI would lose it.
    """
    lines = [printable(line) for line in str(text).split("\n")]
    return "\n".join(_NOT_XML.sub(lambda match: f"\\u{ord(match.group()):04x}", line) for line in lines)


def junit_xml(results: list[ScriptResult]) -> ElementTree.ElementTree:
    root = ElementTree.Element("testsuites", name="xmppext scenario")
    suites: dict[str, ElementTree.Element] = {}
    for result in results:
        suite = suites.get(result.server)
        if suite is None:
            suite = suites[result.server] = ElementTree.SubElement(root, "testsuite", name=xml_safe(result.server))
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=xml_safe(f"scenario.{result.server}"),
            name=xml_safe(result.script.path.name),
            file=xml_safe(result.script.path),
            time=f"{result.seconds:.3f}",
        )
        problem = result.first_problem
        if problem is not None:
            kind = "error" if result.status == StepStatus.ERROR else "failure"
            failure = ElementTree.SubElement(
                case, kind, message=xml_safe(f"line {problem.line} {problem.action}: {problem.message}")
            )
            failure.text = xml_safe(
                "\n".join(
                    f"line {step.line} {step.action}: {step.message}\n" + "\n".join(step.report_lines(FILE_WIDTH))
                    for step in result.steps
                    if step.status in (StepStatus.FAILED, StepStatus.ERROR)
                )
            )
    for suite in [root, *suites.values()]:
        cases = suite.iter("testcase")
        counted = [
            (case.find("failure") is not None, case.find("error") is not None, float(case.get("time", 0)))
            for case in cases
        ]
        suite.set("tests", str(len(counted)))
        suite.set("failures", str(sum(failed for failed, _error, _time in counted)))
        suite.set("errors", str(sum(error for _failed, error, _time in counted)))
        suite.set("time", f"{sum(seconds for *_flags, seconds in counted):.3f}")
    return ElementTree.ElementTree(root)


def junit_bytes(results: list[ScriptResult]) -> bytes:
    """The report as a file's bytes (UTF-8, with an XML declaration)."""
    tree = junit_xml(results)
    ElementTree.indent(tree)
    written = io.BytesIO()
    tree.write(written, encoding="utf-8", xml_declaration=True)
    return written.getvalue()
