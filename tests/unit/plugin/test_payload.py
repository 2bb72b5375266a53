"""Untrusted-input parsing and checks (xmpp_ext.plugin.payload), offline."""

import os
import threading

import pytest
from slixmpp.xmlstream import ET

import xmpp_ext.plugin
from xmpp_ext.plugin import ExampleTag, ExampleTagError, payload, stanza

PAYLOAD_NAMES = (
    "MAX_PAYLOAD_BYTES",
    "ExampleTagError",
    "check_payload_size",
    "check_xml_attributes",
    "check_xml_name",
    "check_xml_text",
    "parse_boolean",
    "parse_xml",
)


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_checks_live_in_payload_and_old_imports_still_work(name):
    # payload.py owns them; the package and stanza.py hand out the very same objects.
    assert getattr(xmpp_ext.plugin, name) is getattr(payload, name)
    assert getattr(stanza, name) is getattr(payload, name)
    assert name in xmpp_ext.plugin.__all__


def test_stanza_module_defines_only_stanza_classes():
    defined_here = {
        name
        for name, value in vars(stanza).items()
        if getattr(value, "__module__", None) == stanza.__name__ and not name.startswith("__")
    }
    assert defined_here == {"ExampleTag", "InsideTag", "_TextInterface"}


@pytest.mark.parametrize(
    "name",
    [
        "µ",  # U+00B5: a letter to Python's \w, outside NameStartChar
        "ª",
        "²",
        "aµ",
        "a²",
        "Ⅻ",  # fifth-edition NameStartChar, refused by expat (Prosody, ejabberd)
        "\U0001d49c",  # MATHEMATICAL SCRIPT CAPITAL A: the same
        "a\u203fb",
        "",
        "-a",
        "1a",
        "·a",
        "a:b",  # an NCName has no colon
        "a b",
        "a>",
    ],
)
def test_names_outside_the_production_or_expat_are_refused(name):
    with pytest.raises(payload.ExampleTagError, match="is not an XML name"):
        payload.check_xml_name(name, "element name")


@pytest.mark.parametrize("name", ["a·b", "a-b.c_d", "_x", "inside_tag", "Ā", "à", "ก", "a\u0300", "ↀ"])
def test_names_in_the_production_are_accepted(name):
    assert payload.check_xml_name(name) == name


NS = "https://example.net/our_extension"


def test_comments_and_processing_instructions_are_dropped_text_kept():
    element = ET.fromstring(f"<example_tag xmlns='{NS}' some_string='s'>a<inside_tag first_field='1'/>b</example_tag>")
    inner = element[0]
    element.insert(0, ET.Comment("first"))
    element[0].tail = "-c"
    inner.append(ET.ProcessingInstruction("target", "data"))
    inner[0].tail = "inner text"
    element.append(ET.Comment("last"))
    element[-1].tail = "z"
    tag = ExampleTag()
    tag.setup_from_lxml(element)
    assert str(tag) == (
        f'<example_tag xmlns="{NS}" some_string="s">a-c'
        '<inside_tag first_field="1">inner text</inside_tag></example_tag>'
    )
    assert len(element) == 3 and len(inner) == 1  # the caller's element is left as it was


def test_a_comment_alone_is_dropped():
    element = ET.Element(f"{{{NS}}}example_tag", {"some_string": "s"})
    element.append(ET.Comment("\x00 never checked: it is not sent"))
    tag = ExampleTag()
    tag.setup_from_lxml(element)
    assert str(tag) == f'<example_tag xmlns="{NS}" some_string="s" />'


def test_foreign_namespace_attribute_in_a_file_is_refused(tmp_path):
    path = tmp_path / "foreign.xml"
    path.write_text(
        f"<example_tag xmlns='{NS}' xmlns:f='urn:other' some_string='s'><inside_tag f:colour='red'/></example_tag>"
    )
    tag = ExampleTag()
    tag.setup_from_string(f"<example_tag xmlns='{NS}' some_string='kept'/>")
    with pytest.raises(ExampleTagError, match=r"foreign.xml: attribute 'colour' in namespace 'urn:other'"):
        tag.setup_from_file(path)
    assert tag["some_string"] == "kept"


def test_xml_lang_attribute_is_kept():
    tag = ExampleTag()
    tag.setup_from_string(f"<example_tag xmlns='{NS}' xml:lang='en' some_string='s'/>")
    assert str(tag) == f'<example_tag xmlns="{NS}" xml:lang="en" some_string="s" />'


def _setup_in_thread(path, timeout=5.0):
    """setup_from_file in a thread, bounded: returns the exception raised; fails if it blocks."""
    outcome = []

    def target():
        try:
            ExampleTag().setup_from_file(path)
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # Unblock the reader stuck in open(): a writer that opens and closes at once.
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout)
        pytest.fail(f"setup_from_file({path}) blocked")
    return outcome[0]


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "payload.xml"
    os.mkfifo(fifo)
    error = _setup_in_thread(fifo)
    assert isinstance(error, ExampleTagError)
    assert str(error) == f"{fifo}: is a FIFO (named pipe), not a regular file"


def test_fifo_swapped_in_after_the_check_does_not_block_either(tmp_path, monkeypatch):
    fifo = tmp_path / "payload.xml"
    os.mkfifo(fifo)
    regular = os.stat(__file__)
    real_stat = os.stat
    # The first look sees a regular file; the FIFO is what gets opened.
    monkeypatch.setattr(payload.os, "stat", lambda name: regular if name == str(fifo) else real_stat(name))
    error = _setup_in_thread(fifo)
    assert str(error) == f"{fifo}: is a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize(("path", "kind"), [("/dev/null", "character device"), ("/", "directory")])
def test_other_special_files_are_refused(path, kind):
    with pytest.raises(ExampleTagError, match=f"^{path}: is a {kind}, not a regular file$"):
        ExampleTag().setup_from_file(path)


def test_regular_file_is_read(tmp_path):
    path = tmp_path / "payload.xml"
    path.write_text(f"<example_tag xmlns='{NS}' some_string='from file'/>")
    tag = ExampleTag()
    tag.setup_from_file(path)
    assert tag["some_string"] == "from file"


def test_xmlns_is_not_an_attribute_name():
    tag = ExampleTag()
    tag.setup_from_dict({"some_string": "kept"})
    with pytest.raises(ExampleTagError, match="'xmlns' is reserved"):
        tag.add_inside_tag("inside_tag", {"xmlns": "urn:elsewhere"})
    with pytest.raises(ExampleTagError, match="'xmlns' is reserved"):
        tag.add_inside_tag("other", {"xmlns": "urn:elsewhere"})
    # An element built in code can hold one too: written, it would duplicate the element's own declaration.
    with pytest.raises(ExampleTagError, match="'xmlns' is reserved"):
        tag.setup_from_lxml(ET.Element(f"{{{NS}}}example_tag", {"xmlns": "urn:elsewhere", "some_string": "s"}))
    assert str(tag) == f'<example_tag xmlns="{NS}" some_string="kept" />'


def test_limit_applies_to_the_tag_as_written_on_the_wire():
    tag = ExampleTag()
    tag.setup_from_dict({"some_string": "kept"})
    quotes = f"<example_tag xmlns='{NS}' some_string='{chr(34) * 20_000}'/>"  # 20 KB typed, 120 KB written
    with pytest.raises(ExampleTagError, match=r"^XML string: as written on the wire: 120\d\d\d bytes, more than 65536"):
        tag.setup_from_string(quotes)
    newlines = f"<example_tag xmlns='{NS}' some_string='s'>{chr(10) * 15_000}</example_tag>"  # 75 KB with &#10;
    with pytest.raises(ExampleTagError, match="as written on the wire"):
        tag.setup_from_string(newlines)
    element = ET.Element(f"{{{NS}}}example_tag", {"some_string": "<" * 20_000})  # &lt;: 80 KB
    with pytest.raises(ExampleTagError, match="as written on the wire"):
        tag.setup_from_lxml(element)
    assert tag["some_string"] == "kept"
    tag.setup_from_string(f"<example_tag xmlns='{NS}' some_string='{chr(34) * 10_000}'/>")  # 60 KB written: fits
    assert tag["some_string"] == chr(34) * 10_000
