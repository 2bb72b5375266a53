"""Running one script against one server: each step's verdict and latency.

What it does, step by step:

* ``connects``: a slixmpp client logs in (TLS verified against the given CA),
  and from then on every stanza it receives waits in its inbox, in order of
  arrival (see clients.py): nothing is answered behind the script's back.
* ``sends``: the stanzas, variables filled in, written as they are.
* ``receives``: the next unread stanzas must match the block's stanzas (in any
  order within one block). As in Scansion, a stanza that arrives unasked is
  not skipped: it is the next one read, and fails the step if it does not
  match. Waits ``timeout`` seconds at most.
* ``receives: nothing``: every connected client pings its server in turn, this
  client last; anything this client received before its own pong fails the
  step. The pongs order the check after whatever the server was still
  routing, instead of sleeping for a guessed time.
* ``disconnects``: a polite close, bounded.

Unlike Scansion, a failed step does not end the script: later steps run and
get their own verdicts (a failed receives: still consumed what it read).
A connection failure ends it, with the step's error, and so does a variable
without a value (nothing could be sent or checked).
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from slixmpp.xmlstream import ET, tostring

from xmpp_ext.scenario.clients import ClosedError, ScenarioClient
from xmpp_ext.scenario.matching import Difference, Matcher
from xmpp_ext.scenario.script import Action, Script
from xmpp_ext.scenario.sidebyside import Listing, Report, mismatch, pretty
from xmpp_ext.scenario.variables import VariableError, Variables
from xmpp_ext.scenario.xmlblock import CLIENT_NS, SCANSION_NS
from xmpp_ext.session import ConnectError, ConnectionSettings
from xmpp_ext.util.display import clip

PING_NS = "urn:xmpp:ping"
#: A step stopped, or not started, because the whole run's time limit (``deadline``) was reached.
OUT_OF_TIME = "stopped: the run reached its time limit"
MAX_SHOWN = 65536  # characters of a stanza kept for reports (JSON gives them whole up to this)
MAX_SHOWN_DEPTH = 100  # levels: slixmpp's serializer recurses once per level


class StepStatus:
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # could not connect, or the connection was lost
    NOT_RUN = "not run"


@dataclass(frozen=True)
class Endpoint:
    """Where clients log in, overriding the script's connect_host/connect_port; None: the script's own."""

    host: str | None = None
    port: int | None = None
    ca_cert: Path | None = None
    connect_timeout: float = 10.0
    # A client's own port by bare JID, over ``port``: its home node in a local ejabberd cluster.
    ports: Mapping[str, int] = field(default_factory=dict)
    # In a cluster: returns once every node can route to a session (a full JID) that has just started,
    # raising ConnectError if it cannot; called (in a thread) by every ``connects`` step.
    until_routable: Callable[[str], None] | None = None


@dataclass
class StepResult:
    line: int
    action: str
    status: str
    seconds: float | None = None
    message: str = ""
    report: Report | None = None  # a failed receives: the side-by-side diff, laid out when printed
    received: list[ET.Element] = field(default_factory=list)  # what this step read, in order
    matched: list[int | None] = field(default_factory=list)  # per received stanza: the block's stanza it matched
    expected: list[str] = field(default_factory=list)  # a failed receives: the stanzas it waited for, as text

    def received_xml(self) -> list[str]:
        return [_shown(stanza) for stanza in self.received]

    def report_lines(self, width: int) -> list[str]:
        """The report laid out in ``width`` columns (no lines when there is none)."""
        return self.report.lines(width) if self.report is not None else []


@dataclass
class ScriptResult:
    script: Script
    server: str
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    bound_jids: dict[str, str] = field(default_factory=dict)  # client name -> full JID
    #: Other JIDs that differ from run to run, and how a comparison names them (e.g. --responder's program).
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        statuses = {step.status for step in self.steps}
        if StepStatus.ERROR in statuses:
            return StepStatus.ERROR
        return StepStatus.FAILED if StepStatus.FAILED in statuses else StepStatus.PASSED

    @property
    def first_problem(self) -> StepResult | None:
        return next((step for step in self.steps if step.status in (StepStatus.FAILED, StepStatus.ERROR)), None)


def client_settings(script: Script, name: str, endpoint: Endpoint) -> ConnectionSettings:
    spec = script.clients[name]
    resource = spec.resource
    assert spec.password is not None  # the parser requires one
    return ConnectionSettings(
        jid=f"{spec.bare_jid}/{resource}" if resource else spec.bare_jid,
        password=spec.password,
        host=endpoint.host or spec.connect_host,
        port=endpoint.ports.get(spec.bare_jid) or endpoint.port or spec.connect_port,
        ca_cert=endpoint.ca_cert,
        connect_timeout=endpoint.connect_timeout,
    )


class ScriptRun:
    def __init__(
        self,
        script: Script,
        server: str,
        endpoint: Endpoint,
        timeout: float,
        environ: Mapping[str, str] | None,
        deadline: float | None = None,
    ) -> None:
        self.script = script
        self.endpoint = endpoint
        self.timeout = timeout
        self.deadline = deadline  # time.monotonic() by which the whole run must end (None: no limit)
        self.variables = Variables(script, environ)
        self.matcher = Matcher(self.variables.fill)
        self.clients: dict[str, ScenarioClient] = {}  # connected now
        self.created: list[ScenarioClient] = []  # every client of this run
        self.stopped = False  # a step ended the script: the rest is not run
        self.result = ScriptResult(script, server)

    async def run(self) -> ScriptResult:
        started = time.perf_counter()
        try:
            for action in self.script.actions:
                if self.stopped:
                    self.result.steps.append(StepResult(action.line, action.label, StepStatus.NOT_RUN))
                    continue
                if self._out_of_time():
                    self.result.steps.append(
                        StepResult(action.line, action.label, StepStatus.FAILED, message=OUT_OF_TIME)
                    )
                    self.stopped = True
                    continue
                self.result.steps.append(await self._step(action))
        finally:
            for client in self.created:
                await client.stop()
            self.result.seconds = time.perf_counter() - started
        return self.result

    async def _step(self, action: Action) -> StepResult:
        step = StepResult(action.line, action.label, StepStatus.PASSED)
        started = time.perf_counter()
        try:
            if action.verb == "connects":
                await self._connect(action.client)
            elif action.verb == "disconnects":
                client = self.clients.pop(action.client, None)
                if client is not None:  # else: disconnected already, which Scansion tolerates
                    await client.session.close()
            elif action.verb == "sends":
                if action.client in self.clients:
                    self._send(action)
                else:
                    step.message = f"nothing sent: {action.client} has disconnected"
            elif action.nothing:
                await self._expect_nothing(action, step)
            else:
                await self._receive(action, step)
        except ConnectError as exc:
            step.status, step.message = StepStatus.ERROR, str(exc)
            self.stopped = True
        except ClosedError as exc:
            step.status, step.message = StepStatus.ERROR, f"{action.client}: {exc}"
            self.stopped = True
        except VariableError as exc:
            # Nothing was sent or checked: what follows would only wait for answers that cannot come.
            step.status, step.message = StepStatus.FAILED, str(exc)
            self.stopped = True
        step.seconds = time.perf_counter() - started
        return step

    async def _connect(self, name: str) -> None:
        settings = client_settings(self.script, name, self.endpoint)
        client = ScenarioClient(settings)
        self.created.append(client)
        await client.start()
        self.clients[name] = client
        if self.endpoint.until_routable is not None:
            await asyncio.to_thread(self.endpoint.until_routable, str(client.boundjid))
        self.variables.full_jids[name] = str(client.boundjid)
        self.result.bound_jids[name] = str(client.boundjid)

    def _send(self, action: Action) -> None:
        client = self.clients[action.client]
        for stanza in action.stanzas:
            client.send_raw(tostring(self._filled(stanza), xmlns=CLIENT_NS))

    def _filled(self, element: ET.Element, fill: Callable[[str], str] | None = None) -> ET.Element:
        """A copy with variables filled in and the scansion: attributes (instructions to us) removed."""
        fill = fill or self.variables.fill
        filled = copy.deepcopy(element)
        for node in filled.iter():
            for key in [key for key in node.attrib if key.startswith(f"{{{SCANSION_NS}}}")]:
                del node.attrib[key]
            for key, value in node.attrib.items():
                node.set(key, fill(value))
            if node.text:
                node.text = fill(node.text)
            if node.tail:
                node.tail = fill(node.tail)
        return filled

    def _expected_xml(self, stanzas: list[ET.Element]) -> list[str]:
        """What a receives: waited for, as text for reports: variables without a value yet stay ``${...}``."""
        return [_shown(self._filled(stanza, self.variables.show)) for stanza in stanzas]

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _wait_deadline(self) -> float:
        """When a wait of this step ends: ``timeout`` from now, or the run's deadline if that comes first.

        Both in the event loop's time, which is time.monotonic().
        """
        until = asyncio.get_running_loop().time() + self.timeout
        return until if self.deadline is None else min(until, self.deadline)

    async def _receive(self, action: Action, step: StepResult) -> None:
        client = self.clients[action.client]
        waiting = list(action.stanzas)
        deadline = self._wait_deadline()
        while waiting:
            received = await client.next_stanza(deadline)
            if received is None:
                missing = ", ".join(_summary(stanza, self.variables.show) for stanza in waiting)
                step.status = StepStatus.FAILED
                step.message = f"nothing received within {self.timeout:g}s (waiting for {missing})"
                step.expected = self._expected_xml(waiting)
                if self._out_of_time():
                    step.message = f"{OUT_OF_TIME} (waiting for {missing})"
                    self.stopped = True
                if step.received:
                    step.message += f"; {len(step.received)} stanza(s) of this block did arrive and match"
                return
            step.received.append(received)
            outcomes = [(expected, *self.matcher.compare(expected, received)) for expected in waiting]
            matched = next((outcome for outcome in outcomes if outcome[1] is None), None)
            step.matched.append(None if matched is None else action.stanzas.index(matched[0]))
            if matched is not None:
                waiting.remove(matched[0])
                self.variables.captures.update(matched[2])
                continue
            expected, difference = _closest(outcomes, received)
            step.status = StepStatus.FAILED
            step.message = f"received a stanza that does not match: {difference}"
            step.report = mismatch(expected, received, difference, self.variables.show, self.script.line_of)
            step.expected = self._expected_xml([expected])
            return

    async def _expect_nothing(self, action: Action, step: StepResult) -> None:
        deadline = self._wait_deadline()
        for name, client in self.clients.items():
            if name != action.client:
                await ping_server(client, deadline)
        client = self.clients[action.client]
        pong = await ping_server(client, deadline)
        unexpected = list(client.inbox)
        if unexpected:
            client.inbox.clear()
            step.received = [stanza for _arrived, stanza in unexpected]
            step.status = StepStatus.FAILED
            step.message = f"expected nothing, received {len(unexpected)} stanza(s): {_summary(step.received[0], str)}"
            step.report = Listing("received:", pretty(step.received[0])[0])
        elif pong is None:
            step.status = StepStatus.FAILED
            step.message = f"could not check: the server did not answer a ping within {self.timeout:g}s"
            if self._out_of_time():
                step.message, self.stopped = OUT_OF_TIME, True


async def ping_server(client: ScenarioClient, deadline: float) -> ET.Element | None:
    """Ping the client's server and take the answer out of its inbox (others stay unread)."""
    ping_id = f"xmppext-scenario-{secrets.token_hex(6)}"
    client.send_raw(f"<iq type='get' id='{ping_id}' to='{client.boundjid.domain}'><ping xmlns='{PING_NS}'/></iq>")

    def is_pong(stanza: ET.Element) -> bool:
        return stanza.get("id") == ping_id and stanza.get("type") in ("result", "error")

    return await client.wait_for(is_pong, deadline)


def _closest(outcomes: list[tuple[ET.Element, Difference | None, dict]], received: ET.Element):
    """The expected stanza a non-matching one is best compared with: the first of the same name, else the first."""
    for expected, difference, _captures in outcomes:
        if expected.tag == received.tag and difference is not None:
            return expected, difference
    expected, difference, _captures = outcomes[0]
    return expected, difference


def _summary(stanza: ET.Element, show) -> str:
    local = stanza.tag.rpartition("}")[2]
    attributes = " ".join(
        f'{key}="{show(value)}"' for key, value in stanza.attrib.items() if key in ("type", "id", "from")
    )
    return f"<{local}{' ' + attributes if attributes else ''}>"


def _shown(stanza: ET.Element) -> str:
    """A received stanza as text for reports, clipped; one nested too deep for a recursive serializer is named only."""
    depth, level = 0, [stanza]
    while level and depth <= MAX_SHOWN_DEPTH:
        depth += 1
        level = [child for element in level for child in element]
    if level:
        return f"<{stanza.tag.rpartition('}')[2]}> (nested deeper than {MAX_SHOWN_DEPTH} levels: not shown)"
    return clip(tostring(stanza, xmlns=CLIENT_NS), MAX_SHOWN)


async def run_script(
    script: Script,
    endpoint: Endpoint,
    server: str = "server",
    timeout: float = 5.0,
    environ: Mapping[str, str] | None = None,
    deadline: float | None = None,
) -> ScriptResult:
    """Run ``script`` against the server at ``endpoint``; accounts must exist (see accounts.py for --local).

    ``deadline`` (time.monotonic()): the step under way then fails with OUT_OF_TIME, the rest are not run.
    """
    return await ScriptRun(script, server, endpoint, timeout, environ, deadline).run()
