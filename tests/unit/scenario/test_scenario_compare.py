"""Where two servers' runs of one script differ (xmpp_ext.scenario.compare), from results made by hand."""

from __future__ import annotations

from xmpp_ext.scenario.compare import differences
from xmpp_ext.scenario.runner import ScriptResult, StepResult, StepStatus
from xmpp_ext.scenario.script import parse
from xmpp_ext.scenario.xmlblock import parse_block

SCRIPT = parse(
    "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n-----\n"
    "Romeo connects\n"
    "Romeo receives:\n"
    "\t<iq type='result' id='r1'/>\n"
    "\t<iq type='set' id='{scansion:capture:push}'/>\n",
    "roster.scs",
)


def stanza(xml: str):
    return parse_block(xml).stanzas[0]


def run(server: str, jid: str, received: list[str], matched: list[int | None], status: str = StepStatus.PASSED):
    steps = [
        StepResult(5, "Romeo connects", StepStatus.PASSED),
        StepResult(6, "Romeo receives", status, received=[stanza(x) for x in received], matched=matched),
    ]
    return ScriptResult(SCRIPT, server, steps, bound_jids={"Romeo": jid})


RESULT = "<iq type='result' id='r1' to='{jid}'><query xmlns='jabber:iq:roster' ver='{ver}'/></iq>"
PUSH = "<iq type='set' id='{id}' to='{jid}'/>"


def test_alike_when_only_bound_jids_and_open_attributes_differ():
    a = run(
        "prosody",
        "romeo@localhost/a1",
        [RESULT.format(jid="romeo@localhost/a1", ver="1"), PUSH.format(id="p-1", jid="romeo@localhost/a1")],
        [0, 1],
    )
    b = run(
        "ejabberd",
        "romeo@localhost/b2",
        [RESULT.format(jid="romeo@localhost/b2", ver="1"), PUSH.format(id="77", jid="romeo@localhost/b2")],
        [0, 1],
    )
    assert differences(a, b) == []


def test_an_attribute_one_server_leaves_out_is_a_difference():
    a = run("prosody", "romeo@localhost/a", [RESULT.format(jid="romeo@localhost/a", ver="1")], [0])
    b = run(
        "ejabberd",
        "romeo@localhost/b",
        ["<iq type='result' id='r1' to='romeo@localhost/b'><query xmlns='jabber:iq:roster'/></iq>"],
        [0],
    )
    [found] = differences(a, b)
    assert str(found) == (
        "line 6 Romeo receives: ejabberd differs from prosody at iq/query: attribute ver is missing (expected '1')"
    )


def test_another_arrival_order_is_named():
    result = RESULT.format(jid="romeo@localhost/a", ver="1")
    push = PUSH.format(id="p", jid="romeo@localhost/a")
    [found] = differences(
        run("prosody", "romeo@localhost/a", [result, push], [0, 1]),
        run("ejabberd", "romeo@localhost/a", [push, result], [1, 0]),
    )
    assert found.detail == (
        "the stanzas came in another order: prosody <iq type='result'> then <iq type='set'>, "
        "ejabberd <iq type='set'> then <iq type='result'>"
    )


def test_a_jid_difference_is_shown_with_the_clients_name():
    a = run("prosody", "romeo@localhost/a", [RESULT.format(jid="romeo@localhost/a", ver="1")], [0])
    b = run("ejabberd", "romeo@localhost/b", [RESULT.format(jid="romeo@localhost", ver="1")], [0])
    [found] = differences(a, b)
    assert found.detail == (
        "ejabberd differs from prosody at iq: attribute to differs: "
        'expected "${Romeo\'s full JID}", received "${Romeo\'s JID}"'
    )


def test_a_different_verdict_is_a_difference():
    a = run("prosody", "romeo@localhost/a", [RESULT.format(jid="x", ver="1")], [0])
    b = run("ejabberd", "romeo@localhost/a", [], [], status=StepStatus.FAILED)
    b.steps[1].message = "nothing received within 5s"
    [found] = differences(a, b)
    assert found.detail == "prosody passed; ejabberd failed (nothing received within 5s)"
