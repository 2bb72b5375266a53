"""``XmppPairUser``: a Locust user that is one sender/responder pair exchanging an extension through a server.

Each user logs its pair in (two ``login`` requests in Locust's statistics),
then each task is one exchange (an ``iq`` or ``message`` request, named
after the kind), reported with its latency as measured on the event loop;
a failure carries the stanza error's condition, ``lost`` when unanswered
within ``--xmpp-timeout``. Users are numbered across workers: user slot
``s`` of worker ``w`` (of ``--expect-workers W``) is pair ``w + W*s``, so
no two workers log in as the same accounts.
"""

from __future__ import annotations

from collections import Counter

import gevent
import slixmpp
from locust import User, constant, task
from locust.exception import StopUser

from xmpp_ext.load import nodes
from xmpp_ext.locust import config as xmpp_config
from xmpp_ext.locust import pair as pairs
from xmpp_ext.locust.bridge import process_bridge

REQUEST_TYPE = "xmpp"
LOGIN = "login"
#: Seconds a user waits after its pair failed to log in, before trying again.
LOGIN_RETRY_PAUSE = 1.0
#: Seconds beyond an exchange's own time-out that a user waits for the loop (a stalled loop is a failure too).
BRIDGE_MARGIN = 5.0

_taken_slots: set[int] = set()
#: What this process reported, by (request name, ok): a worker prints it at the end (its share of the totals).
reported: Counter[tuple[str, bool]] = Counter()


def _take_slot() -> int:
    slot = 0
    while slot in _taken_slots:
        slot += 1
    _taken_slots.add(slot)
    return slot


class XmppPairUser(User):
    """A sender/responder pair per user; subclass it in a locustfile (``abstract`` keeps Locust from running it).

    Without more, the pair exchanges ``xmppext load``'s example_tag iq (or
    message, ``--xmpp-kind``). For your own extension, set ``plugins`` (the
    slixmpp plugins both sessions register) and override ``answer_with``
    and ``request`` (see examples/greeting/locustfile.py).
    """

    abstract = True
    wait_time = constant(0)
    #: slixmpp plugins of a user's own extension (its module imported by the locustfile registers them).
    plugins: tuple[str, ...] = ()
    #: The name exchanges are reported under (default: the --xmpp-kind, or "request" for your own extension).
    exchange_name: str | None = None

    def on_start(self) -> None:
        self._refused = False
        try:
            self._config = xmpp_config.read(self.environment.parsed_options)
        except xmpp_config.ConfigError:
            # The run's start already said why, in one line, and is ending the run with exit code 2
            # (xmpp_ext.locust._check_configuration); this user stops at its first task, the way Locust lets a
            # user stop without a traceback.
            self._refused = True
            return
        self._bridge = process_bridge()
        self._slot = _take_slot()
        runner = self.environment.runner
        workers = max(1, int(getattr(self.environment.parsed_options, "expect_workers", 1) or 1))
        is_worker = type(runner).__name__ == "WorkerRunner"
        self.pair_number = (max(0, runner.worker_index) + workers * self._slot) if is_worker else self._slot
        self._sessions: dict[str, pairs.Session | None] = {"sender": None, "responder": None}
        self._exchange = None
        self._log_in()

    def on_stop(self) -> None:
        _taken_slots.discard(getattr(self, "_slot", -1))
        if hasattr(self, "_bridge"):
            self._bridge.run(pairs.log_out(*self._sessions.values()), pairs.LOGOUT_WAIT + BRIDGE_MARGIN)

    @task
    def exchange(self) -> None:
        if self._refused:
            raise StopUser()
        if self._exchange is None:
            self._log_in()
            return
        outcome = self._bridge.run(self._exchange.once(), self._config.plan.timeout + BRIDGE_MARGIN)
        name = self.exchange_name or (self._config.plan.kind.value if not self._own_extension() else "request")
        failure = None if outcome.ok else ExchangeFailed(outcome.condition)
        self._report(name, outcome.latency or 0.0, failure)

    # -- a user's own extension ------------------------------------------------------

    def answer_with(self, client: slixmpp.ClientXMPP) -> None:
        """Make the responder's ``client`` answer requests (e.g. ``client.add_event_handler(...)``); on the loop."""

    async def request(self, client: slixmpp.ClientXMPP, responder: str) -> object:
        """One exchange from the sender's ``client`` to ``responder`` (a full JID); raise when it fails."""
        raise NotImplementedError

    def _own_extension(self) -> bool:
        return type(self).request is not XmppPairUser.request

    # -- internals ---------------------------------------------------------------------

    def _log_in(self) -> None:
        plan = self._config.plan
        accounts = self._config.pair_accounts(self.pair_number)
        for role, account in (("responder", accounts.responder), ("sender", accounts.sender)):
            if self._sessions[role] is not None:
                continue
            port = nodes.port_for(plan, self.pair_number, role)
            coroutine = pairs.log_in(plan, account, port, self.plugins, pairs.ignore_event)
            login = self._bridge.run(coroutine, plan.login_timeout + BRIDGE_MARGIN)
            failure = None if login.session else LoginFailed(f"{account.jid}: {login.failure}")
            self._report(LOGIN, login.seconds, failure)
            if login.session is None:
                gevent.sleep(LOGIN_RETRY_PAUSE)
                return
            self._sessions[role] = login.session
        self._exchange = self._bridge.run(self._new_exchange(), BRIDGE_MARGIN)

    async def _new_exchange(self):
        sender, responder = self._sessions["sender"], self._sessions["responder"]
        if self._own_extension():
            return pairs.PluginExchange(self._config.plan, sender, responder, self.request, self.answer_with)
        return pairs.BuiltInExchange(self._config.plan, sender, responder, self.pair_number)

    def _report(self, name: str, seconds: float, failure: Exception | None) -> None:
        reported[(name, failure is None)] += 1
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=seconds * 1000.0,  # milliseconds, as a float: timing.py keeps its microseconds
            response_length=0,
            exception=failure,
            context={"pair": self.pair_number},
        )


class ExchangeFailed(Exception):
    """An exchange ended without the expected answer; the message is the condition (``lost``: no answer)."""


class LoginFailed(Exception):
    """A pair's session could not log in; the message names the account and the cause."""
