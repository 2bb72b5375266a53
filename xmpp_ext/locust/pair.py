"""One Locust user's sender/responder pair, on the event loop of the bridge: log in, exchange once, log out.

No Locust here: everything runs as coroutines on the process's asyncio loop
(bridge.py), on the load engine's session layer (xmpp_ext.load.sessions) and,
for the built-in exchange, its wire-level sender and responder
(xmpp_ext.load.exchange), timed inside the loop as ``xmppext load`` times
them. A user's own extension brings its slixmpp plugins and two hooks
instead (``answer_with`` on the responder's client, ``request`` on the
sender's), timed around ``request``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

from xmpp_ext.load import sessions
from xmpp_ext.load.exchange import Outcomes, Responder, Sender
from xmpp_ext.load.plan import LoadPlan
from xmpp_ext.servers.base import Account
from xmpp_ext.session import ConnectError, Session, SessionEvent

#: Seconds logging a pair out may take.
LOGOUT_WAIT = 2.0


@dataclass(frozen=True)
class Outcome:
    """How one request ended: ``latency`` (seconds) when answered, else the failure's condition."""

    latency: float | None = None
    condition: str | None = None  # "lost" when unanswered within the time-out

    @property
    def ok(self) -> bool:
        return self.condition is None


@dataclass(frozen=True)
class Login:
    session: Session | None
    seconds: float
    failure: str | None  # ConnectError's cause


async def log_in(
    plan: LoadPlan, account: Account, port: int | None, plugins: tuple[str, ...], on_event: Callable
) -> Login:
    """Log ``account`` in at ``port`` (sessions as the load engine makes them, with ``plugins``), timed."""
    session = sessions.new_session(sessions.settings_for(plan, account, port), True, on_event, plugins)
    began = time.monotonic()
    try:
        await sessions.log_in(session)
    except ConnectError as exc:
        return Login(None, time.monotonic() - began, exc.cause)
    return Login(session, time.monotonic() - began, None)


class _OneRequest(Outcomes):
    """The built-in sender's outcomes for its one request in flight, as a future."""

    def __init__(self) -> None:
        self.future: asyncio.Future[Outcome] | None = None
        self.late_replies = 0

    def _end(self, outcome: Outcome) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_result(outcome)

    def ok(self, latency: float) -> None:
        self._end(Outcome(latency=latency))

    def failed(self, condition: str) -> None:
        self._end(Outcome(condition=condition))

    def lost(self) -> None:
        self._end(Outcome(condition="lost"))

    def late(self) -> None:
        self.late_replies += 1


class BuiltInExchange:
    """``xmppext load``'s exchange (example_tag iq, or a message answered with a XEP-0461 reply)."""

    def __init__(self, plan: LoadPlan, sender: Session, responder: Session, number: int) -> None:
        self._plan = plan
        self._outcomes = _OneRequest()
        self.responder = Responder(responder.client, responder.writer)
        peer = responder.client.boundjid.full
        self.sender = Sender(sender.client, sender.writer, peer, plan.kind, self._outcomes, number)

    async def once(self) -> Outcome:
        future = asyncio.get_running_loop().create_future()
        self._outcomes.future = future
        self.sender.start_closed_loop(1, 1)
        try:
            async with asyncio.timeout(self._plan.timeout):  # not wait_for: it can swallow a cancellation (3.11)
                return await asyncio.shield(future)
        except TimeoutError:
            self.sender.expire(time.monotonic() + 1)  # counts the request lost: the future ends with it
            return future.result() if future.done() else Outcome(condition="lost")


class PluginExchange:
    """A user's own extension: ``request(sender_client, responder_jid)`` timed; the responder set up once."""

    def __init__(
        self,
        plan: LoadPlan,
        sender: Session,
        responder: Session,
        request: Callable[[slixmpp.ClientXMPP, str], Awaitable[object]],
        answer_with: Callable[[slixmpp.ClientXMPP], None],
    ) -> None:
        self._plan = plan
        self._client = sender.client
        self._peer = responder.client.boundjid.full
        self._request = request
        answer_with(responder.client)

    async def once(self) -> Outcome:
        began = time.monotonic()
        try:
            async with asyncio.timeout(self._plan.timeout):
                await self._request(self._client, self._peer)
        except (TimeoutError, IqTimeout):
            return Outcome(condition="lost")
        except IqError as exc:
            return Outcome(condition=str(exc.condition or "undefined-condition")[:64])
        except Exception as exc:  # a user's hook failed: reported as its exception's type, the run goes on
            return Outcome(condition=type(exc).__name__)
        return Outcome(latency=time.monotonic() - began)


async def log_out(*sessions_: Session | None) -> None:
    await sessions.log_out_all([session for session in sessions_ if session is not None], LOGOUT_WAIT)


def ignore_event(_event: SessionEvent) -> None:
    """Session events are not reported to Locust (cuts and resumptions show as lost or slow exchanges)."""
