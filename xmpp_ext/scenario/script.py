"""Scansion scripts (``.scs``) read into clients and actions, or one error naming file:line.

The format is Scansion's, with the constructs Prosody's own scripts use:

* metadata before the first client: ``# title``, further ``#`` lines or a plain
  line as the description, ``## tag`` lines (several tags may share a line,
  separated by commas);
* ``[Client] Name`` with tab- or space-indented ``key: value`` properties
  (``jid``, ``password``, ``resource``, ``connect_host``, ``connect_port``;
  others are kept but unused, a near miss of one of these is refused); a name may contain spaces and apostrophes;
  a property's value may hold ``${env:XMPPEXT_SCENARIO_X}`` variables, filled in by
  ``resolve_properties`` once the scripts to run are known;
* a line of dashes only, then the actions: ``Name connects``, ``Name
  disconnects``, ``Name sends:`` / ``Name receives:`` (colon optional)
  followed by an indented block of one or more stanzas, ``Name receives:
  nothing``;
* comments (``#``, ``//``, ``--`` at the start of an unindented line), blank
  lines anywhere, also inside a block;
* ``${Name's JID}`` (the jid: line as written), ``${Name's full JID}`` (as bound), ``${NAME}`` (a value captured
  earlier with ``{scansion:capture:NAME}``) and ``${env:XMPPEXT_SCENARIO_X}``
  (an environment variable; only that prefix, so a script cannot read other
  secrets of the environment) in attribute values and text.

Everything a script can get wrong is found here, before anything connects:
an unknown client, an action of a client that has not connected, malformed
XML, an unknown variable, a DTD or entity declaration.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from slixmpp.xmlstream import ET

from xmpp_ext.scenario.xmlblock import SCANSION_NS, BlockError, parse_block
from xmpp_ext.util.files import NotARegularFile, read_regular_file
from xmpp_ext.util.secret import Secret

MAX_SCRIPT_BYTES = 1_000_000
MAX_CLIENTS = 100

#: Variables are replaced by these marks (private-use characters, valid in
#: XML) before a block is parsed, so ``${Romeo's JID}`` may sit inside a
#: single-quoted attribute, and are filled in when the step runs.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
MARK = re.compile(f"{MARK_OPEN}(\\d+){MARK_CLOSE}")
_VARIABLE = re.compile(r"\$\{([^}\n]{1,200})\}")
_CLIENT_VARIABLE = re.compile(r"^(?P<client>.+)'s (?P<full>full )?JID$")
_ENV_VARIABLE = re.compile(r"^env:(?P<name>XMPPEXT_SCENARIO_[A-Z0-9_]{1,64})$")
_CAPTURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
CAPTURE = re.compile(r"^\{scansion:capture:(?P<name>[^}]*)\}$")
ANY = "{scansion:any}"

_CLIENT_HEADER = re.compile(r"^\[(?P<kind>[^\]]*)\]\s*(?P<name>.*?)\s*$")
_PROPERTY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_-]*)\s*:\s*(?P<value>.*?)\s*$")
_SIMPLE_ACTION = re.compile(r"^(?P<client>.+?)\s+(?P<verb>connects|disconnects)\s*$")
_BLOCK_ACTION = re.compile(r"^(?P<client>.+?)\s+(?P<verb>sends|receives)\s*(?P<colon>:)?\s*(?P<rest>.*?)\s*$")
KNOWN_PROPERTIES = ("jid", "password", "resource", "connect_host", "connect_port")


class ScriptError(Exception):
    """A script does not parse: one line, ``file:line: what was expected there``."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Variable:
    """One ``${...}`` of a script: what it names, and where it first appears."""

    name: str  # as written between ${ and }
    kind: str  # "bare", "full" (a client's JID), "capture", "env"
    key: str  # the client's name, the capture's name, or the environment variable
    line: int


@dataclass
class ClientSpec:
    name: str
    line: int
    properties: dict[str, str] = field(default_factory=dict)
    password: Secret | None = field(default=None, repr=False)
    connect_port: int | None = None
    #: Properties whose value holds ${env:...} variables, with their line: checked once filled in.
    templated: dict[str, int] = field(default_factory=dict)

    @property
    def jid(self) -> str:
        return self.properties["jid"]

    @property
    def bare_jid(self) -> str:
        return self.jid.split("/", 1)[0]

    @property
    def domain(self) -> str:
        return self.bare_jid.rpartition("@")[2]

    @property
    def localpart(self) -> str:
        return self.bare_jid.partition("@")[0] if "@" in self.bare_jid else ""

    @property
    def resource(self) -> str | None:
        """The resource asked for: the ``resource:`` property, else the JID's, else None (the server's choice)."""
        if "resource" in self.properties:
            return self.properties["resource"]
        return self.jid.split("/", 1)[1] if "/" in self.jid else None

    @property
    def connect_host(self) -> str | None:
        return self.properties.get("connect_host")


@dataclass(frozen=True)
class Action:
    line: int
    client: str
    verb: str  # "connects", "disconnects", "sends", "receives"
    stanzas: tuple[ET.Element, ...] = ()
    nothing: bool = False  # "receives: nothing"

    @property
    def label(self) -> str:
        suffix = ": nothing" if self.nothing else ""
        return f"{self.client} {self.verb}{suffix}"


@dataclass
class Script:
    path: Path
    title: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    clients: dict[str, ClientSpec] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)
    element_lines: dict[int, int] = field(default_factory=dict, repr=False)  # id(element) -> line

    @property
    def name(self) -> str:
        return self.path.stem

    def line_of(self, element: ET.Element) -> int | None:
        return self.element_lines.get(id(element))


def load(path: Path) -> Script:
    """Read and parse the script at ``path``; ScriptError if it cannot be used."""
    try:
        data = read_regular_file(path, MAX_SCRIPT_BYTES)  # a FIFO or a device is refused, never waited on
    except NotARegularFile as exc:
        raise ScriptError(path, 0, f"the script is a {exc.kind}, not a regular file") from None
    except OSError as exc:
        raise ScriptError(path, 0, f"cannot read the script ({exc.strerror or exc})") from None
    if len(data) > MAX_SCRIPT_BYTES:
        raise ScriptError(path, 0, f"the script is larger than {MAX_SCRIPT_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ScriptError(path, line, "the script is not UTF-8 text") from None
    return parse(text, path)


def parse(text: str, path: Path | str = "<script>") -> Script:
    return _Parser(text, Path(path)).parse()


def is_comment(stripped: str) -> bool:
    return stripped.startswith(("#", "//", "--")) and not _is_separator(stripped)


def _is_separator(stripped: str) -> bool:
    return len(stripped) >= 2 and set(stripped) == {"-"}


def _indented(line: str) -> bool:
    return line[:1] in ("\t", " ")


_FIRST_WORD = re.compile(r"[^\s:=]*")


def _quoted(stripped: str, limit: int = 60) -> str:
    """A line that does not parse, quoted for its error; one that looks like a password line only by its key.

    ``password TopSecret`` (no colon), or ``password: TopSecret`` where no property may stand, would
    otherwise put the password in the error, in a terminal, a CI log.
    """
    key = _FIRST_WORD.match(stripped).group().lower()
    if "pass" in key or difflib.get_close_matches(key, ["password"], n=1, cutoff=0.7):
        return "a line that looks like a password (not shown)"
    return repr(stripped[:limit])


class _Parser:
    def __init__(self, text: str, path: Path) -> None:
        if MARK_OPEN in text or MARK_CLOSE in text:
            line = next(n for n, row in enumerate(text.splitlines(), 1) if MARK_OPEN in row or MARK_CLOSE in row)
            raise ScriptError(path, line, "the characters U+E000 and U+E001 are reserved")
        self.lines = text.splitlines()
        self.path = path
        self.script = Script(path)
        self.position = 0  # index into self.lines
        self.captured: set[str] = set()
        self.variable_index: dict[str, int] = {}

    def fail(self, line: int, message: str) -> ScriptError:
        return ScriptError(self.path, line, message)

    def parse(self) -> Script:
        self._header()
        self._clients()
        if not self.script.clients:
            raise self.fail(self.position + 1, "expected a client definition ([Client] Name) before the actions")
        self._actions()
        return self.script

    # -- sections ----------------------------------------------------------------

    def _header(self) -> None:
        description: list[str] = []
        while self.position < len(self.lines):
            raw = self.lines[self.position]
            stripped = raw.strip()
            if stripped.startswith("[") or _is_separator(stripped) or (stripped and _indented(raw)):
                break
            self.position += 1
            if not stripped or stripped.startswith(("//", "--")):
                continue
            if stripped.startswith("##"):
                self.script.tags.extend(tag.strip() for tag in stripped[2:].split(",") if tag.strip())
            elif stripped.startswith("#"):
                content = stripped[1:].strip()
                if not self.script.title:
                    self.script.title = content
                elif content:
                    description.append(content)
            else:
                description.append(stripped)
        self.script.description = " ".join(description)

    def _clients(self) -> None:
        current: ClientSpec | None = None
        while self.position < len(self.lines):
            raw = self.lines[self.position]
            line = self.position + 1
            stripped = raw.strip()
            if _is_separator(stripped):
                self.position += 1
                if current is not None:
                    self._finish_client(current)
                return
            self.position += 1
            if not stripped or is_comment(stripped):
                continue
            if _indented(raw):
                if current is None:
                    raise self.fail(line, "expected a client definition ([Client] Name) before its properties")
                match = _PROPERTY.match(stripped)
                if not match:
                    raise self.fail(line, f"expected a client property 'key: value', got {_quoted(stripped)}")
                self._property(current, match["key"], match["value"], line)
                continue
            match = _CLIENT_HEADER.match(stripped)
            if not match:
                raise self.fail(
                    line, f"expected '[Client] Name', or a line of dashes before the actions, got {_quoted(stripped)}"
                )
            if match["kind"] != "Client":
                raise self.fail(line, f"unknown object class [{match['kind']}]; only [Client] is known")
            if not match["name"]:
                raise self.fail(line, "a [Client] needs a name, e.g. [Client] Romeo")
            if match["name"] in self.script.clients:
                raise self.fail(line, f"client {match['name']!r} is defined twice")
            if len(self.script.clients) >= MAX_CLIENTS:
                raise self.fail(line, f"more than {MAX_CLIENTS} clients")
            if current is not None:
                self._finish_client(current)
            current = ClientSpec(match["name"], line)
            self.script.clients[current.name] = current
        raise self.fail(len(self.lines) + 1, "expected a line of dashes (-----) between the clients and the actions")

    def _property(self, client: ClientSpec, key: str, value: str, line: int) -> None:
        if key not in KNOWN_PROPERTIES:
            # Other scripts' own properties are kept (unused); a near miss of a known one is a typo.
            near = difflib.get_close_matches(key, KNOWN_PROPERTIES, n=1, cutoff=0.8)
            if near:
                raise self.fail(line, f"unknown property {key!r}; did you mean {near[0]!r}?")
        if key in client.properties or (key == "password" and client.password is not None):
            raise self.fail(line, f"property {key!r} of client {client.name!r} is given twice")
        for match in _VARIABLE.finditer(value if key in KNOWN_PROPERTIES else ""):  # unused ones stay as written
            self._property_variable(match.group(1), key, line)
            client.templated[key] = line
        if key == "password":
            client.password = Secret(value)
            return
        client.properties[key] = value
        if key not in client.templated:  # a templated one is checked once its variables are filled in
            check_property(client, key, value, lambda message: self.fail(line, message))

    def _property_variable(self, name: str, key: str, line: int) -> None:
        env = _ENV_VARIABLE.match(name)
        if not env:
            raise self.fail(
                line,
                f"${{{name}}} in property {key!r}: a client property can only use ${{env:XMPPEXT_SCENARIO_...}} "
                "variables (JIDs and captures exist only once the script runs)",
            )
        self._register(Variable(name, "env", env["name"], line))

    def _register(self, variable: Variable) -> int:
        """The index of ``variable`` in the script's list, added there on its first use."""
        if variable.name not in self.variable_index:
            self.variable_index[variable.name] = len(self.script.variables)
            self.script.variables.append(variable)
        return self.variable_index[variable.name]

    def _finish_client(self, client: ClientSpec) -> None:
        if "jid" not in client.properties:
            raise self.fail(client.line, f"client {client.name!r} has no 'jid:' property")
        if client.password is None:
            raise self.fail(client.line, f"client {client.name!r} has no 'password:' property")

    def _actions(self) -> None:
        while self.position < len(self.lines):
            raw = self.lines[self.position]
            line = self.position + 1
            stripped = raw.strip()
            self.position += 1
            if not stripped or is_comment(stripped) or _is_separator(stripped):
                continue
            if _indented(raw):
                raise self.fail(line, "an indented line outside a sends:/receives: block (is an action missing?)")
            self.script.actions.append(self._action(stripped, line))
        check_order(self.script)

    def _action(self, stripped: str, line: int) -> Action:
        simple = _SIMPLE_ACTION.match(stripped)
        if simple:
            client = self._client_name(simple["client"], line)
            if self._block(line)[0]:
                raise self.fail(line + 1, f"'{client} {simple['verb']}' takes no XML block")
            return Action(line, client, simple["verb"])
        block = _BLOCK_ACTION.match(stripped)
        if not block:
            raise self.fail(
                line, f"expected '<client> connects', 'disconnects', 'sends:' or 'receives:', got {_quoted(stripped)}"
            )
        client = self._client_name(block["client"], line)
        verb, rest = block["verb"], block["rest"]
        text, first = self._block(line)
        if rest:
            if verb == "receives" and rest == "nothing":
                if text:
                    raise self.fail(first, f"'{client} receives: nothing' takes no XML block")
                return Action(line, client, verb, nothing=True)
            raise self.fail(line, f"expected nothing after '{verb}:' (or 'receives: nothing'), got {rest[:40]!r}")
        if not text:
            raise self.fail(line, f"expected an indented XML stanza after '{client} {verb}:'")
        stanzas = self._stanzas(text, first, verb)
        return Action(line, client, verb, tuple(stanzas))

    def _client_name(self, name: str, line: int) -> str:
        if name not in self.script.clients:
            known = ", ".join(self.script.clients)
            raise self.fail(line, f"unknown client {name!r} (the script defines: {known})")
        return name

    def _block(self, action_line: int) -> tuple[str, int]:
        """The indented lines after an action (blank lines included), and the first one's line number."""
        first = self.position + 1
        rows: list[str] = []
        while self.position < len(self.lines):
            raw = self.lines[self.position]
            if raw.strip() and not _indented(raw):
                break
            rows.append(raw)
            self.position += 1
        while rows and not rows[-1].strip():
            rows.pop()
        return "\n".join(rows), first

    def _stanzas(self, text: str, first: int, verb: str) -> list[ET.Element]:
        marked = _VARIABLE.sub(lambda match: self._variable(match, text, first), text)
        try:
            parsed = parse_block(marked)
        except BlockError as exc:
            raise self.fail(first + exc.line - 1, exc.message) from None
        for element_id, block_line in parsed.lines.items():
            self.script.element_lines[element_id] = first + block_line - 1
        for stanza in parsed.stanzas:
            self._check_scansion_attributes(stanza, verb)
        return parsed.stanzas

    def _variable(self, match: re.Match[str], text: str, first: int) -> str:
        name = match.group(1)
        line = first + text.count("\n", 0, match.start())
        if name in self.variable_index:
            return f"{MARK_OPEN}{self.variable_index[name]}{MARK_CLOSE}"
        client = _CLIENT_VARIABLE.match(name)
        env = _ENV_VARIABLE.match(name)
        if client:
            self._client_name(client["client"], line)
            variable = Variable(name, "full" if client["full"] else "bare", client["client"], line)
        elif env:
            variable = Variable(name, "env", env["name"], line)
        elif name.startswith("env:"):
            raise self.fail(line, f"${{{name}}}: only environment variables named XMPPEXT_SCENARIO_* can be used")
        elif name in self.captured:
            variable = Variable(name, "capture", name, line)
        else:
            raise self.fail(
                line,
                f"variable ${{{name}}} does not exist (use ${{Name's JID}}, ${{Name's full JID}}, a name captured "
                "earlier with {scansion:capture:NAME}, or ${env:XMPPEXT_SCENARIO_...})",
            )
        return f"{MARK_OPEN}{self._register(variable)}{MARK_CLOSE}"

    def _check_scansion_attributes(self, element: ET.Element, verb: str) -> None:
        line = self.script.element_lines.get(id(element), 0)
        for key, value in element.attrib.items():
            if key == f"{{{SCANSION_NS}}}strict":
                if value not in ("true", "false"):
                    raise self.fail(line, f"scansion:strict must be 'true' or 'false', got {value[:20]!r}")
            elif key.startswith(f"{{{SCANSION_NS}}}"):
                raise self.fail(line, f"unknown attribute scansion:{key.rpartition('}')[2]}")
            capture = CAPTURE.match(value)
            if capture:
                if verb != "receives":
                    raise self.fail(line, "{scansion:capture:NAME} only makes sense in a 'receives:' block")
                if not _CAPTURE_NAME.match(capture["name"]):
                    raise self.fail(line, f"a capture needs a name of letters, digits, _ . -, got {value[:40]!r}")
                self.captured.add(capture["name"])
        for child in element:
            self._check_scansion_attributes(child, verb)


def check_property(client: ClientSpec, key: str, value: str, fail: Callable[[str], Exception]) -> None:
    """Check ``value`` of property ``key`` (as written, or with its variables filled in); raise ``fail(message)``."""
    if key == "connect_port":
        if not (value.isascii() and value.isdigit() and len(value) <= 5) or not 0 < int(value) < 65536:
            raise fail(f"connect_port must be a port number (1-65535), got {value[:20]!r}")
        client.connect_port = int(value)
    if key == "jid" and (value.count("@") > 1 or not value.split("/", 1)[0].rpartition("@")[2]):
        raise fail(f"jid must be user@domain[/resource], got {value[:80]!r}")


def unset_environment(script: Script, environ: Mapping[str, str], provided: Iterable[str] = ()) -> list[Variable]:
    """The script's ``${env:...}`` variables ``environ`` has no value for (but those ``provided`` later)."""
    later = set(provided)
    return [
        variable
        for variable in script.variables
        if variable.kind == "env" and not environ.get(variable.key) and variable.key not in later
    ]


def resolve_properties(script: Script, environ: Mapping[str, str]) -> None:
    """Fill in the ``${env:...}`` variables of the script's client properties from ``environ``, in place.

    ScriptError (file:line) for a variable that is not set or a value that is
    not valid once filled in. Separate from parsing: only the scripts that will
    run (after --only-tags/--skip-tags) need their variables.
    """

    for client in script.clients.values():
        for key, line in list(client.templated.items()):

            def value(match: re.Match[str], line: int = line) -> str:
                name = match.group(1).removeprefix("env:")
                if not environ.get(name):
                    raise ScriptError(
                        script.path, line, f"${{{match.group(1)}}}: the environment variable {name} is not set"
                    )
                return environ[name]

            if key == "password":
                assert client.password is not None
                client.password = Secret(_VARIABLE.sub(value, client.password.reveal()))
            else:
                client.properties[key] = _VARIABLE.sub(value, client.properties[key])
                check_property(
                    client, key, client.properties[key], lambda message, at=line: ScriptError(script.path, at, message)
                )
            del client.templated[key]


def check_order(script: Script) -> None:
    """Every client connects before it sends or receives, and not twice; ScriptError otherwise.

    A second ``disconnects``, or a ``sends:``, of a client that did connect but
    has disconnected is allowed and sends nothing, as in Scansion: Prosody's
    own scripts have both.
    """
    connected: set[str] = set()
    ever: set[str] = set()
    for action in script.actions:
        name = action.client
        if action.verb == "connects":
            if name in connected:
                raise ScriptError(script.path, action.line, f"{name} connects again without disconnecting first")
            connected.add(name)
            ever.add(name)
        elif action.verb == "disconnects" and name in ever:
            connected.discard(name)
        elif action.verb == "sends" and name in ever:
            pass
        elif name not in connected:
            raise ScriptError(
                script.path, action.line, f"{name} {action.verb} but has not connected (add '{name} connects' before)"
            )
