"""Reading Scansion scripts (xmpp_ext.scenario.script): every construct, and every bad input with file:line."""

from __future__ import annotations

import textwrap

import pytest
from slixmpp.xmlstream import tostring

from xmpp_ext.scenario.script import ANY, MARK, ScriptError, load, parse, resolve_properties
from xmpp_ext.scenario.xmlblock import CLIENT_NS, SCANSION_NS

CLIENTS = (
    "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n\n"
    "[Client] Juliet\n\tjid: juliet@localhost\n\tpassword: pw\n"
)


def script(actions: str, clients: str = CLIENTS, header: str = "") -> str:
    return header + clients + "\n-----\n\n" + textwrap.dedent(actions)


def error_of(text: str) -> ScriptError:
    with pytest.raises(ScriptError) as caught:
        parse(text, "t.scs")
    return caught.value


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def test_metadata_title_description_and_tags():
    parsed = parse(
        script("Romeo connects\n", header="# Roster basics\n# What it checks.\n## roster, smoke\n## pep\n\n")
    )
    assert parsed.title == "Roster basics"
    assert parsed.description == "What it checks."
    assert parsed.tags == ["roster", "smoke", "pep"]


def test_a_plain_line_in_the_header_is_the_description():
    parsed = parse(script("Romeo connects\n", header="# Title\nChecks the roster.\n\n"))
    assert parsed.description == "Checks the roster."


def test_clients_with_properties_and_a_name_with_an_apostrophe():
    clients = (
        "[Client] Juliet's phone\n\tjid: juliet@example.net/balcony\n\tpassword: s3cr3t\n"
        "    connect_host: 127.0.0.1\n\tconnect_port: 5299\n\tresource: phone\n"
    )
    parsed = parse(script("Juliet's phone connects\n", clients=clients))
    phone = parsed.clients["Juliet's phone"]
    assert phone.bare_jid == "juliet@example.net"
    assert phone.resource == "phone"  # the property wins over the JID's resource
    assert (phone.connect_host, phone.connect_port) == ("127.0.0.1", 5299)
    assert phone.password.reveal() == "s3cr3t"
    assert "s3cr3t" not in repr(phone)


def test_every_action_kind_with_line_numbers():
    text = script(
        """\
        Romeo connects
        Romeo sends:
        \t<message to="juliet@localhost"><body>hi</body></message>
        Romeo receives:
        \t<message from="juliet@localhost"/>
        Romeo receives: nothing
        Romeo disconnects
        """
    )
    actions = parse(text).actions
    assert [action.label for action in actions] == [
        "Romeo connects",
        "Romeo sends",
        "Romeo receives",
        "Romeo receives: nothing",
        "Romeo disconnects",
    ]
    assert [action.line for action in actions] == [
        line_of(text, "connects"),
        line_of(text, "Romeo sends"),
        line_of(text, "Romeo receives:"),
        line_of(text, "nothing"),
        line_of(text, "disconnects"),
    ]
    stanza = actions[1].stanzas[0]
    assert stanza.tag == f"{{{CLIENT_NS}}}message"
    assert stanza.find(f"{{{CLIENT_NS}}}body").text == "hi"


def test_corpus_constructs_comments_no_colon_blank_lines_several_stanzas():
    text = script(
        """\
        -- a Lua-style comment
        // a C-style comment
        # a hash comment
        Romeo connects

        Romeo sends
        \t<presence/>

        \t<iq type="get" id="1">
        \t\t<query xmlns="jabber:iq:roster"/>
        \t</iq>
        Romeo receives
        \t<presence/>
        """
    )
    parsed = parse(text, "t.scs")
    sends = parsed.actions[1]
    assert [element.tag.rpartition("}")[2] for element in sends.stanzas] == ["presence", "iq"]
    assert parsed.line_of(sends.stanzas[1]) == line_of(text, '<iq type="get"')
    assert parsed.line_of(sends.stanzas[1][0]) == line_of(text, "jabber:iq:roster")
    assert parsed.actions[2].verb == "receives"


def test_a_second_disconnect_or_a_send_after_it_is_tolerated_but_not_without_connecting():
    # Prosody's presence_preapproval.scs disconnects Bob twice; blocking.scs sends after disconnecting.
    parsed = parse(script("Romeo connects\nRomeo disconnects\nRomeo disconnects\nRomeo sends:\n\t<presence/>\n"))
    assert [action.verb for action in parsed.actions] == ["connects", "disconnects", "disconnects", "sends"]
    assert "Juliet disconnects but has not connected" in error_of(script("Juliet disconnects\n")).message


def test_variables_become_marks_and_are_listed():
    text = script(
        """\
        Romeo sends:
        \t<message to='${Juliet's JID}' from="${Romeo's full JID}"><body>${Juliet's JID}</body></message>
        """
    )
    # Used before Romeo connects: a bare JID comes from the client definition.
    with pytest.raises(ScriptError, match="Romeo sends but has not connected"):
        parse(text)
    parsed = parse(script("Romeo connects\n") + text.split("-----\n\n", 1)[1])
    message = parsed.actions[1].stanzas[0]
    assert [variable.kind for variable in parsed.variables] == ["bare", "full"]
    assert MARK.fullmatch(message.get("to")) and MARK.fullmatch(message[0].text)
    assert message.get("to") == message[0].text  # the same variable, the same mark


def test_captures_scansion_any_and_strict():
    text = script(
        """\
        Romeo connects
        Romeo receives:
        \t<iq type="set" id="{scansion:capture:push_id}">
        \t\t<query xmlns="jabber:iq:roster" ver="{scansion:any}" scansion:strict="false"/>
        \t</iq>
        Romeo sends:
        \t<iq type="result" id="${push_id}"/>
        """
    )
    parsed = parse(text)
    query = parsed.actions[1].stanzas[0][0]
    assert query.get("ver") == ANY
    assert query.get(f"{{{SCANSION_NS}}}strict") == "false"
    assert parsed.variables[0].kind == "capture"


def test_environment_variables_only_with_the_scenario_prefix():
    good = script("Romeo connects\nRomeo sends:\n\t<iq to='${env:XMPPEXT_SCENARIO_RESPONDER}' type='get' id='1'/>\n")
    assert parse(good).variables[0].key == "XMPPEXT_SCENARIO_RESPONDER"
    bad = script("Romeo connects\nRomeo sends:\n\t<message to='${env:XMPPEXT_PASSWORD}'/>\n")
    assert "only environment variables named XMPPEXT_SCENARIO_*" in str(error_of(bad))


def test_load_reads_a_file_and_names_it_in_errors(tmp_path):
    path = tmp_path / "roster.scs"
    path.write_text(script("Romeo connects\n"))
    assert load(path).name == "roster"
    path.write_text(script("Benvolio connects\n"))
    with pytest.raises(ScriptError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}:")
    path.write_bytes(b"# title\n\xff\n")
    with pytest.raises(ScriptError, match=r":2: the script is not UTF-8 text"):
        load(path)


BAD_INPUTS = [
    # (actions, the line's marker, the expected message)
    ("Benvolio connects\n", "Benvolio", "unknown client 'Benvolio' (the script defines: Romeo, Juliet)"),
    ("Romeo receives:\n\t<message/>\n", "Romeo receives", "Romeo receives but has not connected"),
    ("Romeo connects\nRomeo disconnects\nRomeo receives:\n\t<presence/>\n", "Romeo receives", "has not connected"),
    ("Romeo connects\nRomeo connects\n", "<last>Romeo connects", "connects again"),
    ("Romeo connects\nRomeo sends:\n\t<message><body>hi</message>\n", "<body>", "malformed XML: mismatched tag"),
    ("Romeo connects\nRomeo sends:\n\t<message>\n", "<message>", "<message> is not closed by the end of the block"),
    ("Romeo connects\nRomeo sends:\n\t<message>&nbsp;</message>\n", "&nbsp;", "undefined entity"),
    ("Romeo connects\nRomeo sends:\n\t<!DOCTYPE x>\n\t<message/>\n", "DOCTYPE", "DTD (<!DOCTYPE>) is not allowed"),
    ("Romeo connects\nRomeo sends:\n\t<!ENTITY x 'y'>\n", "ENTITY", "entity declaration (<!ENTITY>) is not allowed"),
    ("Romeo connects\nRomeo sends:\n\t<message to='${Tybalt}'/>\n", "Tybalt", "variable ${Tybalt} does not exist"),
    ('Romeo connects\nRomeo sends:\n\t<message to="${Paris\'s JID}"/>\n', "Paris", "unknown client 'Paris'"),
    ("Romeo connects\nRomeo sends:\n", "Romeo sends", "expected an indented XML stanza after 'Romeo sends:'"),
    ("Romeo connects\nRomeo receives: nothing\n\t<message/>\n", "<message/>", "takes no XML block"),
    ("Romeo connects\nRomeo receives: something\n", "something", "expected nothing after 'receives:'"),
    ("Romeo connects\n# note\n\t<message/>\n", "<message/>", "an indented line outside a sends:/receives: block"),
    ("Romeo dances\n", "dances", "expected '<client> connects', 'disconnects', 'sends:' or 'receives:'"),
    ("Romeo connects\nRomeo sends:\n\thello <message/>\n", "hello", "text outside a stanza"),
    ("Romeo connects\nRomeo sends:\n\t<x:message/>\n", "x:message", "unbound prefix"),
    ("Romeo connects\nRomeo receives:\n\t<message scansion:strict='yes'/>\n", "strict", "must be 'true' or 'false'"),
    ("Romeo connects\nRomeo sends:\n\t<iq id='{scansion:capture:x}'/>\n", "capture", "only makes sense in a"),
    ("Romeo connects\nRomeo sends:\n\t<?xml-stylesheet x?>\n", "stylesheet", "processing instruction"),
]


@pytest.mark.parametrize(("actions", "marker", "message"), BAD_INPUTS, ids=[case[2][:40] for case in BAD_INPUTS])
def test_bad_input_names_the_file_line_and_the_problem(actions, marker, message):
    text = script(actions)
    if marker.startswith("<last>"):
        expected_line = max(n for n, line in enumerate(text.splitlines(), 1) if marker[6:] in line)
    else:
        expected_line = line_of(text, marker)
    error = error_of(text)
    assert message in error.message
    assert (error.path, error.line) == ("t.scs", expected_line)
    assert str(error).startswith(f"t.scs:{expected_line}: ")


BAD_CLIENTS = [
    ("[Client] Romeo\n\tpassword: pw\n", 1, "client 'Romeo' has no 'jid:' property"),
    ("[Client] Romeo\n\tjid: romeo@localhost\n", 1, "client 'Romeo' has no 'password:' property"),
    ("[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n\tconnect_port: http\n", 4, "connect_port must be"),
    ("[Client] Romeo\n\tjid: romeo@localhost\n\tjid: r@localhost\n\tpassword: pw\n", 3, "given twice"),
    ("[Client] Romeo\n\tjid: a@b@c\n\tpassword: pw\n", 2, "jid must be user@domain"),
    ("[Server] Romeo\n", 1, "unknown object class [Server]"),
    ("\tjid: romeo@localhost\n", 1, "expected a client definition"),
    ("[Client] Romeo\n\tjid romeo\n", 2, "expected a client property 'key: value'"),
    (CLIENTS + "[Client] Romeo\n\tjid: x@y\n\tpassword: p\n", 8, "client 'Romeo' is defined twice"),
    ("[Client]\n", 1, "a [Client] needs a name"),
]


@pytest.mark.parametrize(("clients", "line", "message"), BAD_CLIENTS, ids=[case[2][:30] for case in BAD_CLIENTS])
def test_bad_client_definitions(clients, line, message):
    error = error_of(script("", clients=clients))
    assert message in error.message
    assert error.line == line


def test_a_script_without_separator_or_clients_says_what_is_missing():
    assert "or a line of dashes before the actions" in error_of(CLIENTS + "Romeo connects\n").message
    assert "expected a client definition" in error_of("# Just a title\n-----\nRomeo connects\n").message


def test_a_misspelt_client_property_is_refused_with_a_suggestion(tmp_path):
    path = tmp_path / "typo.scs"
    path.write_text("[Client] Romeo\n\tjid: romeo@localhost\n\tresouce: phone\n-----\nRomeo connects\n")
    with pytest.raises(ScriptError, match=r"typo.scs:3: unknown property 'resouce'; did you mean 'resource'\?"):
        load(path)


# -- ${env:...} in client properties (resolve_properties) ----------------------------------

ENV_CLIENT = (
    "[Client] Romeo\n"
    "\tjid: ${env:XMPPEXT_SCENARIO_JID}\n"
    "\tpassword: pw-${env:XMPPEXT_SCENARIO_PASSWORD}\n"
    "\tconnect_port: ${env:XMPPEXT_SCENARIO_PORT}\n"
)


def test_environment_variables_in_every_client_property_are_filled_in_when_resolved():
    parsed = parse(script("Romeo connects\n", clients=ENV_CLIENT))
    assert {(variable.key, variable.line) for variable in parsed.variables} == {
        ("XMPPEXT_SCENARIO_JID", 2),
        ("XMPPEXT_SCENARIO_PASSWORD", 3),
        ("XMPPEXT_SCENARIO_PORT", 4),
    }
    environ = {"XMPPEXT_SCENARIO_JID": "romeo@example.net", "XMPPEXT_SCENARIO_PASSWORD": "s3cr3t"}
    resolve_properties(parsed, {**environ, "XMPPEXT_SCENARIO_PORT": "5299"})
    romeo = parsed.clients["Romeo"]
    assert (romeo.bare_jid, romeo.password.reveal(), romeo.connect_port) == ("romeo@example.net", "pw-s3cr3t", 5299)
    resolve_properties(parsed, {})  # once filled in, nothing is read again


@pytest.mark.parametrize(
    ("environ", "line", "message"),
    [
        ({"XMPPEXT_SCENARIO_JID": "r@x", "XMPPEXT_SCENARIO_PORT": "1"}, 3, "XMPPEXT_SCENARIO_PASSWORD is not set"),
        ({"XMPPEXT_SCENARIO_JID": "a@b@c", "XMPPEXT_SCENARIO_PASSWORD": "p"}, 2, "jid must be user@domain"),
        ({"XMPPEXT_SCENARIO_JID": "r@x", "XMPPEXT_SCENARIO_PASSWORD": "p", "XMPPEXT_SCENARIO_PORT": "²"}, 4, "port"),
    ],
)
def test_an_unset_variable_or_a_bad_value_is_named_with_its_line(environ, line, message):
    parsed = parse(script("Romeo connects\n", clients=ENV_CLIENT), "t.scs")
    with pytest.raises(ScriptError) as caught:
        resolve_properties(parsed, {"XMPPEXT_SCENARIO_PORT": "5222", **environ})
    assert (caught.value.line, caught.value.path) == (line, "t.scs")
    assert message in caught.value.message


def test_a_client_property_takes_only_environment_variables():
    clients = "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: ${Juliet's JID}\n"
    error = error_of(script("Romeo connects\n", clients=clients))
    assert error.line == 3
    assert "a client property can only use ${env:XMPPEXT_SCENARIO_...} variables" in error.message
    other = "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: ${env:HOME}\n"
    assert "a client property can only use" in error_of(script("Romeo connects\n", clients=other)).message


def test_a_property_nobody_reads_keeps_its_text_and_asks_for_no_variable():
    clients = "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n\tnote: ${anything}\n"
    parsed = parse(script("Romeo connects\n", clients=clients))
    assert parsed.variables == [] and parsed.clients["Romeo"].properties["note"] == "${anything}"


def test_indentation_between_elements_is_not_part_of_the_stanza():
    parsed = parse(
        script(
            "Romeo connects\nRomeo sends:\n\t<iq type='get' id='1'>\n\t\t<query xmlns='q'>\n"
            "\t\t\t<item/>\n\t\t</query>\n\t</iq>\n\t<message>\n\t\t<body>  hi there  </body>\n\t</message>\n"
        )
    )
    iq, message = parsed.actions[1].stanzas
    # As the runner sends it: no &#10;&#9; between the elements.
    assert tostring(iq, xmlns=CLIENT_NS) == '<iq type="get" id="1"><query xmlns="q"><item /></query></iq>'
    assert message[0].text == "  hi there  "  # text with content keeps its spaces


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("property", "\tpassword TopSecret"),  # the colon missing
        ("client", "password: TopSecret"),  # the indent missing
        ("client", "passwordTopSecret"),
        ("property", "\tpasswd TopSecret"),
        ("action", "password: TopSecret"),  # after the dashes
    ],
)
def test_a_malformed_password_line_is_not_echoed(where, line):
    clients = "[Client] Romeo\n\tjid: romeo@localhost\n"
    text = {
        "property": clients + line + "\n\tpassword: pw\n-----\n",
        "client": clients + "\tpassword: pw\n" + line + "\n-----\n",
        "action": clients + "\tpassword: pw\n-----\n" + line + "\n",
    }[where]
    with pytest.raises(ScriptError) as info:
        parse(text, "s.scs")
    assert "TopSecret" not in str(info.value)
    assert str(info.value).endswith("got a line that looks like a password (not shown)")


def test_each_client_logs_in_at_its_home_port_when_the_endpoint_names_one():
    from xmpp_ext.scenario.runner import Endpoint, client_settings

    parsed = parse(script("Romeo connects\nJuliet connects\n"))
    cluster = Endpoint("127.0.0.1", 5222, ports={"juliet@localhost": 5333})
    assert [client_settings(parsed, name, cluster).port for name in ("Romeo", "Juliet")] == [5222, 5333]
    assert client_settings(parsed, "Juliet", Endpoint("127.0.0.1", 5222)).port == 5222
