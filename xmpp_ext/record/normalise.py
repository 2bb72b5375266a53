"""The normaliser: what a recording saw becomes a Scansion script that replays on a fresh server.

A recording holds the stanzas of real sessions, with their real JIDs, random
resources and ids, and whatever the server made up on the way. A script
must hold what a replay can check. The rules, in the order they apply:

* **Only stanzas.** The recording already keeps nothing before resource
  binding and no stream management or client state traffic; no SASL payload
  and no password is ever in it. The text written is still searched for every
  account's password (as is, in base64, and as SASL PLAIN's base64): a client
  that sent one inside a stanza gets it replaced by ``REDACTED``, with a note.
* **Clients named after their accounts** (``sender`` -> ``Sender``); a second
  session of an account open at the same time is ``Sender 2``. Each has the
  account's bare JID and a placeholder password (``--local`` creates the
  accounts with it). No resource: the replaying server picks one.
* **JIDs as variables**: every bound full JID, in attribute values and text,
  becomes ``${Name's full JID}``, every account's bare JID ``${Name's JID}``
  (also inside ``sender@localhost/phone``); an account only named, never logged
  in, still gets its client definition so the replay creates it too.
* **Ids the clients chose are kept**, renamed to ``sender-1``, ``sender-2``...
  wherever they appear as an id (``id``, ``queryid``, ``sid``: also the id of a
  XEP-0461 reply), so a request and its answer still agree.
* **Values the server made are** ``{scansion:any}``: an id no client sent
  before it arrived (a roster push, XEP-0359 stanza ids, MAM result ids), a
  ``stamp`` and who a ``<delay/>`` is ``from``, any text no client wrote (a
  version string, the time) and ``xml:lang`` (dropped where the matching is
  not strict, so a server that adds none passes too). When a later
  ``sends:`` uses such an id, the first ``receives:`` with it captures it
  (``{scansion:capture:server-id1}``) and the sends use ``${server-id1}``.
* **What the receiver knows is left out**: ``to`` equal to the receiver's own
  full JID, or to its bare JID (a server may deliver a stanza addressed to the
  account with either: Prosody keeps the bare JID, ejabberd writes the full
  one), and ``from`` equal to its own bare JID (RFC 6120 §8.1.2.1: the same as
  none), are dropped; a server's human-readable error ``<text/>`` is
  dropped too (optional, and worded by each server its own way), and so are an
  empty ``<show/>`` or ``<status/>`` (no value: ejabberd drops it, Prosody
  passes it on) and a presence's ``<delay/>`` (Prosody adds one, ejabberd not).
* **Order-free payloads are non-strict**: disco#info and #items, data forms,
  the roster, software version get ``scansion:strict="false"``, so their
  children may come in any order and ``ver`` (roster versioning, which only
  Prosody offers) may be absent.
* **Steps**: the sends of one client in a row make one ``sends:`` block; what
  clients receive until the next send, connect or disconnect makes one
  ``receives:`` block per client (a block matches in any order, so a roster
  result and its push may swap, as they do between servers). An iq answer
  that arrived just after another send of its client is expected before that
  send (``answers_first``). When nothing at all arrived for QUIET_AFTER_SEND
  seconds after a client's sends, that silence is kept as ``Name receives:
  nothing``. A client disconnects where it closed its stream (recording.py),
  before the server tells its contacts.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field

from slixmpp.xmlstream import ET

from xmpp_ext.record.recording import Recording, Session, Step
from xmpp_ext.record.render import block, escape
from xmpp_ext.scenario.matching import XML_NS
from xmpp_ext.scenario.script import ANY
from xmpp_ext.scenario.xmlblock import CLIENT_NS, SCANSION_NS
from xmpp_ext.util.secret import Secret

QUIET_AFTER_SEND = 0.5  # seconds of silence after a send that make a "receives: nothing"
MAX_MOVE = 100  # steps an answer may move back (answers_first): no recording makes that quadratic
PLACEHOLDER_PASSWORD = "password"  # the accounts' password in the script: replays create the accounts with it
REDACTED = "REDACTED"

STANZA_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ORDER_FREE = frozenset(
    {
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "jabber:x:data",
        "jabber:iq:roster",
        "jabber:iq:version",
    }
)
#: Attributes a server may leave out where another sends them: dropped inside non-strict elements.
OPTIONAL_ATTRIBUTES = {"{jabber:iq:roster}query": ("ver",)}
#: Attributes the server fills in (any element), and those it fills in on some elements only.
SERVER_MADE_ATTRIBUTES = ("stamp",)
SERVER_MADE_ON = {"{urn:xmpp:delay}delay": ("from",)}  # Prosody names itself, ejabberd the contact
STRICT = f"{{{SCANSION_NS}}}strict"
LANG = f"{{{XML_NS}}}lang"


@dataclass
class Script:
    """The script's text and what the user should know about it (one line each)."""

    text: str
    notes: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)


#: Attributes whose values name a stanza, a query or a session (a XEP-0461 reply's id, a MAM queryid, a Jingle sid).
ID_ATTRIBUTES = frozenset({"id", "queryid", "sid"})


def is_id_attribute(key: str) -> bool:
    return key.rpartition("}")[2] in ID_ATTRIBUTES


def normalise(
    recording: Recording,
    accounts: list[str],
    passwords: list[Secret],
    header: list[str],
) -> Script:
    """The script of ``recording``; ``accounts`` are the bare JIDs clients could log in as, in order."""
    return _Normaliser(recording, accounts, header).run(passwords)


class _Normaliser:
    def __init__(self, recording: Recording, accounts: list[str], header: list[str]) -> None:
        self.recording = recording
        self.header = header
        self.steps = answers_first([step for step in recording.steps if not step.cancelled])
        self.accounts = {jid: _client_base_name(jid) for jid in accounts}
        self.names = _session_names(self.steps)
        self.mentioned: dict[str, None] = {}  # bare JIDs the script names, in order (each needs a definition)
        self.jids = self._jid_variables()
        self.jid_pattern = _alternatives(self.jids)
        self.renamed: dict[str, str] = {}  # id a client chose -> its name in the script
        self.server_made: dict[str, str | None] = {}  # value -> capture name (None: never reused)
        self.captures_named = 0
        self.captured: set[str] = set()  # capture names already written into a receives:
        self.client_texts: set[str] = set()
        self._classify_values()

    # -- names ---------------------------------------------------------------------

    def _jid_variables(self) -> dict[str, tuple[str, str]]:
        """Each full and bare JID the script should name -> (variable text, bare JID it stands for)."""
        jids: dict[str, tuple[str, str]] = {}
        for session, name in self.names.items():
            jids.setdefault(session.jid, (f"{name}'s full JID", session.bare))
        for bare, name in self.accounts.items():
            jids[bare] = (f"{name}'s JID", bare)
        return jids

    # -- which values are whose ----------------------------------------------------

    def _classify_values(self) -> None:
        """Walk the recording once in time order: an id first sent by a client is its own (renamed), an id first
        received is the server's; a server's value that a client sends back later gets a capture name."""
        counters: dict[str, int] = {}
        for step in self.steps:
            if step.stanza is None:
                continue
            sent = step.kind == "sends"
            prefix = self.names[step.session].lower().replace(" ", "")  # "Sender 2" -> sender2-1, sender2-2...
            for node in step.stanza.iter():
                for key, value in node.attrib.items():
                    if sent:
                        self._reused(value)
                    if not value or not is_id_attribute(key) or value in self.renamed or value in self.server_made:
                        continue
                    if sent:
                        counters[prefix] = counters.get(prefix, 0) + 1
                        self.renamed[value] = f"{prefix}-{counters[prefix]}"
                    else:
                        self.server_made[value] = None
                if sent:
                    self._reused((node.text or "").strip())

    def _reused(self, value: str) -> None:
        """A client sends ``value``: if the server made it, the script must capture it."""
        if value in self.server_made and self.server_made[value] is None:
            self.captures_named += 1
            self.server_made[value] = f"server-id{self.captures_named}"

    # -- the script ----------------------------------------------------------------

    def run(self, passwords: list[Secret]) -> Script:
        actions = self._actions()
        clients = self._definitions()
        text = "\n".join([*self.header, "", *clients, "-----", "", *actions]) + "\n"
        script = Script(text, clients=[line[len("[Client] ") :] for line in clients if line.startswith("[Client]")])
        if self.recording.truncated:
            script.notes.append(f"the recording stopped early ({self.recording.truncated}); the script ends there")
        _redact(script, passwords)
        return script

    def _definitions(self) -> list[str]:
        lines: list[str] = []
        defined: list[tuple[str, str]] = []
        for session, name in self.names.items():
            if (name, session.bare) not in defined:
                defined.append((name, session.bare))
        for bare in self.mentioned:
            name = self.accounts.get(bare)
            if name and all(existing != name for existing, _ in defined):
                defined.append((name, bare))
        for name, bare in defined:
            lines += [f"[Client] {name}", f"\tjid: {bare}", f"\tpassword: {PLACEHOLDER_PASSWORD}", ""]
        return lines

    def _actions(self) -> list[str]:
        lines: list[str] = []
        pending: dict[str, list[ET.Element]] = {}  # receives since the last other step, per client
        sending: tuple[str, list[ET.Element], float] | None = None  # a sends: block being gathered
        silent_since: tuple[str, float] | None = None  # a client sent, and nothing arrived since

        def flush_sends() -> None:
            nonlocal sending
            if sending is not None:
                lines.extend([f"{sending[0]} sends:", *block(sending[1]), ""])
                sending = None

        def flush_receives(now: float) -> None:
            nonlocal silent_since
            if silent_since is not None and not pending and now - silent_since[1] >= QUIET_AFTER_SEND:
                lines.extend([f"{silent_since[0]} receives: nothing", ""])
            silent_since = None
            for name, stanzas in pending.items():
                lines.extend([f"{name} receives:", *block(stanzas), ""])
            pending.clear()

        for step in self.steps:
            name = self.names[step.session]
            if step.kind == "receives":
                flush_sends()
                pending.setdefault(name, []).append(self._received(step))
                continue
            if (
                step.kind == "sends"
                and sending is not None
                and sending[0] == name
                and not pending
                and step.at - sending[2] < QUIET_AFTER_SEND
            ):
                sending[1].append(self._sent(step))
                sending = (name, sending[1], step.at)
                silent_since = (name, step.at)
                continue
            flush_sends()
            flush_receives(step.at)
            if step.kind == "sends":
                sending = (name, [self._sent(step)], step.at)
                silent_since = (name, step.at)
            else:
                lines.extend([f"{name} {step.kind}", ""])
        flush_sends()
        flush_receives(self.recording.ended_at or (self.steps[-1].at if self.steps else 0.0))
        return lines

    # -- stanzas -------------------------------------------------------------------

    def _sent(self, step: Step) -> ET.Element:
        stanza = copy.deepcopy(step.stanza)
        for node in stanza.iter():
            for key, value in list(node.attrib.items()):
                node.set(key, self._sent_value(key, value))
            node.text = self._sent_text(node.text)
            node.tail = self._sent_text(node.tail)
        return stanza

    def _sent_value(self, key: str, value: str) -> str:
        if self.server_made.get(value):
            return "${" + self.server_made[value] + "}"
        if is_id_attribute(key) and value in self.renamed:
            return escape(self.renamed[value])
        return self._literal(value)

    def _sent_text(self, text: str | None) -> str | None:
        if text is None:
            return None
        if not text.strip():
            return text if "\n" not in text else None  # the sender's own indentation, not content
        if self.server_made.get(text.strip()):
            return "${" + self.server_made[text.strip()] + "}"
        self.client_texts.add(text.strip())
        return self._literal(text)

    def _received(self, step: Step) -> ET.Element:
        session = step.session
        stanza = copy.deepcopy(step.stanza)
        if stanza.get("to") in (session.jid, session.bare):
            del stanza.attrib["to"]
        if stanza.get("from") == session.bare:
            del stanza.attrib["from"]
        self._received_element(stanza, strict=None)
        return stanza

    def _received_element(self, node: ET.Element, strict: bool | None) -> None:
        """Rewrite ``node`` and what it holds; ``strict`` is the mode switched on above it (None: by namespace)."""
        namespace = node.tag[1:].partition("}")[0] if node.tag.startswith("{") else ""
        if namespace in ORDER_FREE and strict is not False:
            node.set(STRICT, "false")
            strict = False
        is_strict = strict if strict is not None else namespace != CLIENT_NS
        for key, value in list(node.attrib.items()):
            if key == STRICT:
                continue
            if not is_strict and (key == LANG or key in OPTIONAL_ATTRIBUTES.get(node.tag, ())):
                del node.attrib[key]
            elif key in SERVER_MADE_ON.get(node.tag, ()):
                node.set(key, ANY)
            else:
                node.set(key, self._received_value(key, value))
        for child in list(node):
            if self._server_error_text(child) or (not is_strict and _optional(child, node)):
                node.remove(child)
                continue
            self._received_element(child, strict)
        node.text = self._received_text(node.text)
        for child in node:
            child.tail = self._received_text(child.tail)

    def _received_value(self, key: str, value: str) -> str:
        if key == LANG or key.rpartition("}")[2] in SERVER_MADE_ATTRIBUTES:
            return ANY
        if is_id_attribute(key) and value in self.renamed:
            return escape(self.renamed[value])
        if value in self.server_made and is_id_attribute(key):
            capture = self.server_made[value]
            if capture is None:
                return ANY
            if capture in self.captured:
                return "${" + capture + "}"
            self.captured.add(capture)
            return "{scansion:capture:" + capture + "}"
        return self._literal(value)

    def _received_text(self, text: str | None) -> str | None:
        if text is None or not text.strip():
            return None
        stripped = text.strip()
        if stripped in self.client_texts or self.jid_pattern.search(stripped):
            return self._literal(stripped)
        if self.server_made.get(stripped) and self.server_made[stripped] in self.captured:
            return "${" + self.server_made[stripped] + "}"
        return ANY  # made by the server: a version string, a time, an id in text

    def _server_error_text(self, node: ET.Element) -> bool:
        return node.tag == f"{{{STANZA_ERRORS_NS}}}text" and (node.text or "").strip() not in self.client_texts

    def _literal(self, value: str) -> str:
        """``value`` escaped, the JIDs in it as variables."""
        parts: list[str] = []
        position = 0
        for match in self.jid_pattern.finditer(value):
            variable, bare = self.jids[match.group(0)]
            self.mentioned.setdefault(bare)
            parts += [escape(value[position : match.start()]), "${" + variable + "}"]
            position = match.end()
        parts.append(escape(value[position:]))
        return "".join(parts)


def _optional(child: ET.Element, parent: ET.Element) -> bool:
    """A child one server sends and another need not: an empty ``<show/>`` or ``<status/>`` (no value: ejabberd
    drops it, Prosody passes it on), a ``<delay/>`` on a presence (Prosody stamps the presence a new contact gets)."""
    if child.tag == "{urn:xmpp:delay}delay":
        return parent.tag == f"{{{CLIENT_NS}}}presence"
    return (
        child.tag.startswith(f"{{{CLIENT_NS}}}")
        and parent.tag.startswith(f"{{{CLIENT_NS}}}")
        and not child.attrib
        and not len(child)
        and not (child.text or "").strip()
    )


def answers_first(steps: list[Step]) -> list[Step]:
    """The steps, each answer to an earlier request moved before the sends of its client that it came after.

    An iq result or error answers the request with its id, sent earlier; a
    send of the same client in between did not cause it. ejabberd pushes a
    roster change before its result, Prosody after: a client that
    acknowledges the push at once sends its ack before or after the result
    arrives, by a hair. Recorded as it came, the script would wait for the
    result after the ack on one server and before it on the other.
    """
    ordered = list(steps)
    requests: dict[tuple[int, str], Step] = {}  # (session, id) -> the send of the request
    for index in range(len(ordered)):
        step = ordered[index]
        if step.kind == "sends" and step.stanza is not None and _is_request(step.stanza):
            requests.setdefault((id(step.session), step.stanza.get("id", "")), step)
        if not (step.kind == "receives" and step.stanza is not None and _is_answer(step.stanza)):
            continue
        request = requests.get((id(step.session), step.stanza.get("id", "")))
        if request is None:
            continue
        # Back over receives and this client's own sends, never past its request or any other step...
        target = index
        while (
            target > max(0, index - MAX_MOVE)
            and ordered[target - 1] is not request
            and (ordered[target - 1].kind == "receives" or _own_send(ordered[target - 1], step.session))
        ):
            target -= 1
        while target < index and ordered[target].kind == "receives":
            target += 1  # ... and then after the receives there: only ahead of the sends
        if target < index:
            ordered.insert(target, ordered.pop(index))
    return ordered


def _is_request(stanza: ET.Element) -> bool:
    return stanza.tag == f"{{{CLIENT_NS}}}iq" and stanza.get("type") in ("get", "set")


def _is_answer(stanza: ET.Element) -> bool:
    return stanza.tag == f"{{{CLIENT_NS}}}iq" and stanza.get("type") in ("result", "error")


def _own_send(step: Step, session: Session) -> bool:
    return step.kind == "sends" and step.session is session


def _client_base_name(bare_jid: str) -> str:
    localpart = bare_jid.partition("@")[0]
    return localpart[:1].upper() + localpart[1:]


def _session_names(steps: list[Step]) -> dict[Session, str]:
    """Each session's client name: its account's, numbered when another session of it is connected."""
    names: dict[Session, str] = {}
    connected: set[str] = set()
    for step in steps:
        if step.kind == "connects":
            base = _client_base_name(step.session.bare)
            name, number = base, 1
            while name in connected:
                number += 1
                name = f"{base} {number}"
            names[step.session] = name
            connected.add(name)
        elif step.kind == "disconnects":
            connected.discard(names.get(step.session, ""))
    return names


def _alternatives(jids: dict[str, tuple[str, str]]) -> re.Pattern[str]:
    """One pattern for every JID, longest first (a full JID before its bare part), not inside a longer word."""
    if not jids:
        return re.compile(r"(?!x)x")
    choices = "|".join(re.escape(jid) for jid in sorted(jids, key=len, reverse=True))
    return re.compile(rf"(?<![\w.@-])(?:{choices})(?![\w.@-])")


def _redact(script: Script, passwords: list[Secret]) -> None:
    """Replace any password (plain, base64, SASL PLAIN's base64) left in the text, and say so."""
    for secret in passwords:
        password = secret.reveal()
        if not password:
            continue
        forms = {password, base64.b64encode(password.encode()).decode()}
        for user in _localparts(script.text):
            forms.add(base64.b64encode(f"\0{user}\0{password}".encode()).decode())
        for form in sorted(forms, key=len, reverse=True):
            if form in script.text:
                script.text = script.text.replace(form, REDACTED)
                script.notes.append(f"a password was found in a stanza and replaced by {REDACTED}")


def _localparts(text: str) -> set[str]:
    return set(re.findall(r"^\tjid: ([^@\n]+)@", text, re.MULTILINE))
