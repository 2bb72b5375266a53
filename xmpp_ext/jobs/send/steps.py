"""The steps of a send run: the tutorial's seven exchanges, or one custom tag; built and checked before sending.

All tags are built and measured before anything is sent, so bad input is
reported (ExampleTagError) with nothing on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slixmpp import JID
from slixmpp.xmlstream import ET

from xmpp_ext.plugin import NAMESPACE, ExampleTag, check_payload_size
from xmpp_ext.plugin.payload import bundled_payload
from xmpp_ext.plugin.wire import wire_size

TUTORIAL_STRING = (
    f'<example_tag xmlns="{NAMESPACE}" some_string="Another_string">'
    'Info_inside_tag<inside_tag first_field="1" secound_field="2" /></example_tag>'
)


@dataclass(frozen=True)
class Step:
    """One exchange of a run: what to send and which outcome counts as ok."""

    name: str
    kind: str  # "iq" or "message"
    tag: ExampleTag | None  # None for a raw step (``payload``)
    itype: str = "get"
    expect_error: str | None = None  # the error condition that is the expected outcome
    await_reply: bool = True
    payload: ET.Element | None = None  # send --raw: any extension's element, sent as it is (jobs/send/raw.py)


#: What ``--path -`` names: the tag comes from standard input.
STDIN_PATH = Path("-")


def read_tag_source(path: Path, stdin) -> ExampleTag:
    """The tag in the file at ``path``, or in ``stdin`` (a binary stream) when ``path`` is ``-``.

    Either is bounded the same way: at most MAX_PAYLOAD_BYTES are read, and
    more is an ExampleTagError naming the source.
    """
    from xmpp_ext.plugin.payload import MAX_PAYLOAD_BYTES, parse_xml

    tag = ExampleTag()
    if path != STDIN_PATH:
        tag.setup_from_file(path)
        return tag
    source = "standard input"
    data = stdin.read(MAX_PAYLOAD_BYTES + 1)
    if len(data) > MAX_PAYLOAD_BYTES:
        from xmpp_ext.plugin import ExampleTagError

        raise ExampleTagError(f"{source}: more than {MAX_PAYLOAD_BYTES} bytes, the stanza size servers accept")
    tag.setup_from_lxml(parse_xml(data, source=source), source=source)
    return tag


def tutorial_scenario(path: Path | None = None, file_tag: ExampleTag | None = None) -> list[Step]:
    """The tutorial sender's seven exchanges, in its order.

    All tags are built before anything is sent, so a bad ``path`` is reported
    (ExampleTagError) with nothing on the wire. ``file_tag``: the tag already
    read (``read_tag_source``), instead of reading ``path``.
    """

    def tag(**values: object) -> ExampleTag:
        built = ExampleTag()
        built.setup_from_dict(values)
        return built

    basic = tag(boolean=True, some_string="Another_string", text="Info_inside_tag")
    inner = tag(some_string="Another_string", text="Info_inside_tag")
    inner.add_inside_tag(tag="inside_tag", attributes={"first_field": "1", "secound_field": "2"})
    message = tag(boolean=True, some_string="Message string", text="Info_inside_tag_message")
    from_file = file_tag if file_tag is not None else read_tag_source(path or bundled_payload(), None)
    from_element = ExampleTag()
    from_element.setup_from_lxml(ET.fromstring(TUTORIAL_STRING))
    # The tutorial's request that must fail: no some_string.
    invalid = tag(boolean=True)
    from_string = ExampleTag()
    from_string.setup_from_string(TUTORIAL_STRING)
    return [
        Step("iq basic", "iq", basic),
        Step("iq with inner tag", "iq", inner),
        Step("message", "message", message),
        Step("iq from file", "iq", from_file),
        Step("iq from element", "iq", from_element),
        Step("iq without some_string", "iq", invalid, expect_error="bad-request"),
        Step("iq from string", "iq", from_string),
    ]


def custom_tag(
    path: Path | None = None,
    xml: str | None = None,
    boolean: bool | None = None,
    some_string: str | None = None,
    text: str | None = None,
    inner: tuple[tuple[str, dict[str, str]], ...] = (),
    file_tag: ExampleTag | None = None,
) -> ExampleTag:
    """The tag for a single stanza: from a file, a string or the bundled payload, then the given fields on top.

    Fields always change a complete tag: ``--boolean`` alone on an empty tag
    would be a request without some_string, which every peer refuses.
    """
    tag = ExampleTag()
    if file_tag is not None:
        tag = file_tag
    elif path is not None:
        tag.setup_from_file(path)
    elif xml is not None:
        tag.setup_from_string(xml)
    else:
        tag.setup_from_file(bundled_payload())
    if boolean is not None:
        tag.set_boolean(boolean)
    if some_string is not None:
        tag.set_some_string(some_string)
    if text is not None:
        tag.set_text(text)
    for name, attributes in inner:
        tag.add_inside_tag(name, attributes)
    return tag


def check_stanza_sizes(steps: list[Step], to: JID) -> None:
    """ExampleTagError unless every step's stanza, as it will be written, fits what servers accept.

    Measured on the wire (escaping included, with the patches the command
    applies): a 60 KB file of ``'`` is 360 KB once written, and a message
    carries its text twice (body and tag).
    """
    for step in steps:
        check_payload_size(written_size(step, to), f"the {step.name} stanza as written")


def written_size(step: Step, to: JID | str) -> int:
    """Bytes of ``step``'s stanza to ``to`` as it will be written (a 16-character id, the patches' escaping)."""
    stanza = ET.Element(f"{{jabber:client}}{step.kind}", {"type": step.itype, "to": str(to), "id": "x" * 16})
    if step.kind == "message":
        stanza.set("type", "chat")
        if step.tag is not None:
            body = ET.SubElement(stanza, "{jabber:client}body")
            body.text = step.tag["text"] or step.name
    stanza.append(step.tag.xml if step.tag is not None else step.payload)
    return wire_size(stanza, patched=True)
