"""Every load session is made, logged in and closed here, on the session layer (``xmpp_ext.session.Session``).

What a load worker changes for its whole process is here too, applied once
by ``prepare_process``:

* asyncio's TLS read buffer: one for the whole process instead of 256 KiB per
  connection (xmpp_ext.load.tlsbuffer says why that is safe and how).
* SCRAM's salted password, cached. Load accounts share a password (and, on
  the local servers, a salt): RFC 5802 lets a client keep SaltedPassword, so
  PBKDF2 runs once per process instead of once per login.
* One TLS context for every session (``Session``'s ``tls_context``): one per
  session would load the CA file again for each of thousands of logins.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import resource
import ssl
from collections.abc import Callable
from pathlib import Path

import slixmpp
from slixmpp.util.sasl import mechanisms

from xmpp_ext.load import freezer, tlsbuffer
from xmpp_ext.load.acks import answer_ack_requests
from xmpp_ext.load.coalesce import coalesce_writes
from xmpp_ext.load.lean import LeanClient, make_lean
from xmpp_ext.load.plan import LoadPlan
from xmpp_ext.load.sasl import only_sasl
from xmpp_ext.load.smallqueues import shrink_client_queues
from xmpp_ext.servers.base import Account
from xmpp_ext.session import (
    ConnectionSettings,
    ReconnectPolicy,
    Session,
    SessionEvent,
    StreamManagement,
    patches,
)
from xmpp_ext.session.settings import ssl_context

log = logging.getLogger(__name__)

#: No plugin: load sessions speak the extension through their own filters (xmpp_ext.load.exchange).
LOAD_PLUGINS: tuple[str, ...] = ()


def prepare_process(loop: asyncio.AbstractEventLoop | None = None) -> dict[str, object]:
    """Apply the process-wide settings above for the sessions of ``loop`` (default: the running loop); returns
    what was applied."""
    patches.apply()
    return {
        "ssl_read_buffer": tlsbuffer.share_read_buffer(loop or asyncio.get_running_loop()),
        "scram_cache": cache_salted_passwords(),
        "open_files": raise_open_file_limit(),
    }


@functools.lru_cache(maxsize=64)
def _salted_password(hash_name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations)


def _cached_hi(self: mechanisms.SCRAM, text: bytes, salt: bytes, iterations: int) -> bytes:
    return _salted_password(self.hash().name, bytes(text), bytes(salt), iterations)


def cache_salted_passwords() -> bool:
    """SCRAM's Hi() (PBKDF2) computed once per password, salt and count in this process."""
    if not patches.supported():
        return False
    mechanisms.SCRAM.Hi = _cached_hi
    return True


def raise_open_file_limit() -> int:
    """Thousands of sessions need thousands of descriptors: the soft limit raised to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


_shared_contexts: dict[tuple[object, bool], ssl.SSLContext | None] = {}


def shared_tls_context(settings: ConnectionSettings) -> ssl.SSLContext | None:
    """One context for every session with the same trust (None: slixmpp's default, the system's CAs)."""
    key = (settings.ca_cert, settings.insecure)
    if key not in _shared_contexts:
        _shared_contexts[key] = ssl_context(settings)
    return _shared_contexts[key]


def settings_for(plan: LoadPlan, account: Account, port: int | None) -> ConnectionSettings:
    """How ``account`` logs in for a load run: the plan's server, TLS and login time-out, at ``port``."""
    return ConnectionSettings(
        jid=f"{account.jid}/{plan.resource}",
        password=account.password,
        host=plan.host,
        port=port,
        ca_cert=Path(plan.ca_cert) if plan.ca_cert else None,
        insecure=plan.insecure,
        connect_timeout=plan.login_timeout,
        direct_tls=plan.direct_tls,
    )


def new_session(
    settings: ConnectionSettings,
    stream_management: bool,
    on_event: Callable[[SessionEvent], None],
    plugins: tuple[str, ...] = LOAD_PLUGINS,
    sasl: str | None = None,
) -> Session:
    """A load session, not yet logged in: no plugin (unless ``plugins``: a user's own, for Locust), the shared
    TLS context, one write per event-loop pass, none of what xmpp_ext.load.lean drops (a user's plugin keeps
    slixmpp's message and presence handling, which it may rely on), short queues in lists
    (xmpp_ext.load.smallqueues).

    With stream management it follows the session layer's reconnection policy
    (a cut stream is resumed, or a new session started) for up to a login
    time-out; without, a cut ends it (``Lost``). ``sasl``: the one SASL
    mechanism it may use (xmpp_ext.load.sasl).
    """
    session = Session(
        settings,
        plugins,
        stream_management=StreamManagement() if stream_management else None,
        reconnect=ReconnectPolicy(give_up_after=settings.connect_timeout) if stream_management else None,
        on_event=on_event,
        tls_context=shared_tls_context(settings),
        client_class=LeanClient if plugins == LOAD_PLUGINS else slixmpp.ClientXMPP,
    )
    coalesce_writes(session.client)
    make_lean(session.client, instant_messaging=plugins != LOAD_PLUGINS)
    shrink_client_queues(session.client)
    if stream_management:
        answer_ack_requests(session.client)
    if sasl is not None:
        only_sasl(session.client, sasl)
    return session


async def log_in(session: Session) -> None:
    """Log in; raises ConnectError (its ``cause`` says why) when there is no session."""
    await session.start()


def freeze_logged_in() -> None:
    """Take every object alive now (the logged-in sessions: they live until the end) out of the collector's sight.

    A full collection otherwise walks all of them: with thousands of sessions in a process it takes tens of
    milliseconds, during which no reply is read, and the latencies of that moment show it. (The worker also
    freezes as sessions log in: xmpp_ext.load.freezer.)
    """
    freezer.collect_and_freeze()


async def log_out_all(sessions: list[Session], wait: float = 2.0) -> None:
    """Close every stream at once, each bounded by ``wait`` seconds; failures only logged."""
    results = await asyncio.gather(*(session.close(wait) for session in sessions), return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.debug("logging a session out failed: %s", result)
