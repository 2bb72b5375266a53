"""Scansion's matching rules: does a received stanza match the expected one, and if not, where first?

* Non-strict (the default for elements in the stanza's namespace, jabber:client):
  every expected attribute and child must be present; extra attributes and
  children, and the children's order, are ignored.
* Strict (the default for elements with a namespace of their own): the
  attribute sets are equal and the children are the same, in the same order.
* ``scansion:strict="true|false"`` on an expected element switches the mode
  for it and, until another switch, for everything below it.
* ``{scansion:any}`` as an attribute value (or as text) means "present, any
  value"; ``{scansion:capture:NAME}`` also stores the value as ``${NAME}``.
* An expected element without text matches any text; with text, the texts
  must be equal once leading and trailing whitespace (the script's
  indentation) is removed.

The answer is the *first* difference in document order of the expected
stanza, with both elements, so a report can point at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slixmpp.xmlstream import ET

from xmpp_ext.scenario.script import ANY, CAPTURE
from xmpp_ext.scenario.xmlblock import CLIENT_NS, SCANSION_NS
from xmpp_ext.util.display import clip

STRICT = f"{{{SCANSION_NS}}}strict"
XML_NS = "http://www.w3.org/XML/1998/namespace"
#: Children tried per expected child in non-strict mode: a hostile peer's
#: stanza with thousands of children must not make matching quadratic.
MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class Difference:
    """Where an expected and a received stanza first differ."""

    kind: str  # name, missing attribute, attribute value, unexpected attribute, text, missing child, unexpected child
    path: str  # e.g. "iq/query/item[2]"
    detail: str  # one sentence
    expected: ET.Element | None  # the expected element at that place
    received: ET.Element | None  # the received one, if there is one

    def __str__(self) -> str:
        return f"at {self.path}: {self.detail}"


def qualified(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def attribute_name(key: str) -> str:
    namespace, local = qualified(key)
    if namespace == XML_NS:
        return f"xml:{local}"
    if namespace == SCANSION_NS:
        return f"scansion:{local}"
    return f"{{{namespace}}}{local}" if namespace else local


def element_name(tag: str) -> str:
    namespace, local = qualified(tag)
    return f"<{local}> ({namespace})" if namespace and namespace != CLIENT_NS else f"<{local}>"


class Matcher:
    """Compares with variables filled in by ``fill``; captures found in a match end up in ``captures``."""

    def __init__(self, fill: Callable[[str], str]) -> None:
        self.fill = fill

    def compare(self, expected: ET.Element, received: ET.Element) -> tuple[Difference | None, dict[str, str]]:
        """The first difference (None: a match) and, on a match, the values captured."""
        captures: dict[str, str] = {}
        difference = self._compare(expected, received, qualified(expected.tag)[1], None, captures)
        return difference, (captures if difference is None else {})

    def _compare(
        self,
        expected: ET.Element,
        received: ET.Element,
        path: str,
        switched: bool | None,
        captures: dict[str, str],
    ) -> Difference | None:
        if expected.tag != received.tag:
            return Difference(
                "name",
                path,
                f"expected {element_name(expected.tag)}, received {element_name(received.tag)}",
                expected,
                received,
            )
        if expected.get(STRICT) is not None:
            switched = expected.get(STRICT) == "true"
        strict = switched if switched is not None else qualified(expected.tag)[0] != CLIENT_NS
        return (
            self._attributes(expected, received, path, strict, captures)
            or self._text(expected, received, path)
            or self._children(expected, received, path, strict, switched, captures)
        )

    def _attributes(
        self, expected: ET.Element, received: ET.Element, path: str, strict: bool, captures: dict[str, str]
    ) -> Difference | None:
        wanted = {key: value for key, value in expected.attrib.items() if not key.startswith(f"{{{SCANSION_NS}}}")}
        for key, value in wanted.items():
            name = attribute_name(key)
            got = received.get(key)
            if got is None:
                shown = "any value" if value == ANY else repr(self.fill(value))
                return Difference(
                    "missing attribute", path, f"attribute {name} is missing (expected {shown})", expected, received
                )
            if value == ANY:
                continue
            capture = CAPTURE.match(value)
            if capture:
                captures[capture["name"]] = got
                continue
            want = self.fill(value)
            if got != want:
                return Difference(
                    "attribute value",
                    path,
                    f"attribute {name} differs: expected {want!r}, received {got!r}",
                    expected,
                    received,
                )
        if strict:
            extra = [key for key in received.attrib if key not in wanted]
            if extra:
                names = ", ".join(attribute_name(key) for key in extra[:5])
                return Difference(
                    "unexpected attribute",
                    path,
                    f"unexpected attribute {names} (strict: the attribute sets must be equal)",
                    expected,
                    received,
                )
        return None

    def _text(self, expected: ET.Element, received: ET.Element, path: str) -> Difference | None:
        wanted = (expected.text or "").strip()
        if not wanted or wanted == ANY:
            return None
        want = self.fill(wanted)
        got = (received.text or "").strip()
        if got == want:
            return None
        return Difference(
            "text", path, f"text differs: expected {clip(want, 80)!r}, received {clip(got, 80)!r}", expected, received
        )

    def _children(
        self,
        expected: ET.Element,
        received: ET.Element,
        path: str,
        strict: bool,
        switched: bool | None,
        captures: dict[str, str],
    ) -> Difference | None:
        wanted = list(expected)
        got = list(received)
        names = [child.tag for child in wanted]

        def child_path(index: int) -> str:
            local = qualified(wanted[index].tag)[1]
            if names.count(wanted[index].tag) > 1:
                local += f"[{names[: index + 1].count(wanted[index].tag)}]"
            return f"{path}/{local}"

        if strict:
            for index, (want, have) in enumerate(zip(wanted, got, strict=False)):
                difference = self._compare(want, have, child_path(index), switched, captures)
                if difference is not None:
                    return difference
            if len(got) > len(wanted):
                extra = got[len(wanted)]
                return Difference(
                    "unexpected child",
                    path,
                    f"unexpected child {element_name(extra.tag)} (strict: the children must be the same, in order)",
                    expected,
                    extra,
                )
            if len(wanted) > len(got):
                missing = wanted[len(got)]
                return Difference(
                    "missing child", child_path(len(got)), f"missing child {element_name(missing.tag)}", missing, None
                )
            return None
        used: set[int] = set()
        for index, want in enumerate(wanted):
            nearest: Difference | None = None
            namesakes = sum(have.tag == want.tag for have in got)
            for position, have in enumerate(got[:MAX_CANDIDATES]):
                if position in used:
                    continue
                trial: dict[str, str] = {}
                difference = self._compare(want, have, child_path(index), switched, trial)
                if difference is None:
                    used.add(position)
                    captures.update(trial)
                    break
                if nearest is None and have.tag == want.tag and (namesakes == 1 or _inside(difference, want)):
                    nearest = difference
            else:
                # The only child of that name, or one that agrees up to its own attributes, shows
                # why; among several of that name, none is "the" one: the child is missing.
                return nearest or Difference(
                    "missing child", child_path(index), f"missing child {self._describe(want)}", want, None
                )
        return None

    def _describe(self, element: ET.Element) -> str:
        """``<name key="value"...>`` (namespace) of an expected element, variables filled in, for a report."""
        namespace, local = qualified(element.tag)
        attributes = "".join(
            f' {attribute_name(key)}="{clip(self.fill(value), 60)}"'
            for key, value in element.attrib.items()
            if not key.startswith(f"{{{SCANSION_NS}}}")
        )
        where = f" ({namespace})" if namespace and namespace != CLIENT_NS else ""
        return f"<{local}{attributes}>{where}"


def _inside(difference: Difference, element: ET.Element) -> bool:
    """Whether ``difference`` lies in ``element``'s text or below it, not in its name or attributes."""
    return difference.expected is not element or difference.kind == "text"
