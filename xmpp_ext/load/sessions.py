"""Every load session is made, logged in and closed here, on the session layer (``xmpp_ext.session.Session``).

What a load worker changes for its whole process is here too, applied once
by ``prepare_process``:

* asyncio's TLS read buffer. CPython 3.11's ``asyncio.sslproto.SSLProtocol``
  allocates ``bytearray(max_size)`` (256 KiB, zero-filled, so resident) per
  TLS connection in ``__init__``; ``get_buffer()`` hands out that buffer and
  never more than ``max_size``. No parameter of ``loop.create_connection`` or
  ``loop.start_tls`` (slixmpp's STARTTLS path) reaches it, and the transport's
  ``set_read_buffer_limits`` only sets flow-control marks. The class
  attribute is the one handle, so a worker sets it to 16 KiB, one TLS record
  (RFC 8446 §5.1: at most 2^14 bytes of plaintext): a read then takes at most
  one record, which costs nothing for stanzas of a few hundred bytes. It is
  set on the class, so it holds for every TLS connection of the process: the
  worker process exists only for its load sessions.
* SCRAM's salted password, cached. Load accounts share a password (and, on
  the local servers, a salt): RFC 5802 lets a client keep SaltedPassword, so
  PBKDF2 runs once per process instead of once per login.
* One TLS context for every session (``Session``'s ``tls_context``): one per
  session would load the CA file again for each of thousands of logins.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import logging
import resource
import ssl
import sys
from asyncio import sslproto
from collections.abc import Callable
from pathlib import Path

from slixmpp.util.sasl import mechanisms

from xmpp_ext.load.plan import LoadPlan
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

#: asyncio's TLS read buffer per connection in a load worker: one TLS record.
SSL_READ_BUFFER = 16 * 1024
#: The CPython versions whose sslproto.SSLProtocol allocates ``max_size`` per connection as described above.
SSL_BUFFER_PYTHONS = ((3, 11), (3, 12), (3, 13))
#: No plugin: load sessions speak the extension through their own filters (xmpp_ext.load.exchange).
LOAD_PLUGINS: tuple[str, ...] = ()


def prepare_process() -> dict[str, object]:
    """Apply the process-wide settings above; returns what was applied."""
    patches.apply()
    return {
        "ssl_read_buffer": shrink_ssl_read_buffer(SSL_READ_BUFFER),
        "scram_cache": cache_salted_passwords(),
        "open_files": raise_open_file_limit(),
    }


def shrink_ssl_read_buffer(size: int) -> int | None:
    """Make asyncio's per-connection TLS read buffer ``size`` bytes; returns it, or None where unsupported."""
    if sys.version_info[:2] not in SSL_BUFFER_PYTHONS or not isinstance(sslproto.SSLProtocol.max_size, int):
        log.warning("asyncio's TLS read buffer left at its default on Python %s", sys.version.split()[0])
        return None
    sslproto.SSLProtocol.max_size = size
    return size


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
) -> Session:
    """A load session, not yet logged in: no plugin (unless ``plugins``: a user's own, for Locust), the shared
    TLS context.

    With stream management it follows the session layer's reconnection policy
    (a cut stream is resumed, or a new session started) for up to a login
    time-out; without, a cut ends it (``Lost``).
    """
    return Session(
        settings,
        plugins,
        stream_management=StreamManagement() if stream_management else None,
        reconnect=ReconnectPolicy(give_up_after=settings.connect_timeout) if stream_management else None,
        on_event=on_event,
        tls_context=shared_tls_context(settings),
    )


async def log_in(session: Session) -> None:
    """Log in; raises ConnectError (its ``cause`` says why) when there is no session."""
    await session.start()


def freeze_logged_in() -> None:
    """Take every object alive now (the logged-in sessions: they live until the end) out of the collector's sight.

    A full collection otherwise walks all of them: with thousands of sessions in a process it takes tens of
    milliseconds, during which no reply is read, and the latencies of that moment show it.
    """
    gc.collect()
    gc.freeze()


async def log_out_all(sessions: list[Session], wait: float = 2.0) -> None:
    """Close every stream at once, each bounded by ``wait`` seconds; failures only logged."""
    results = await asyncio.gather(*(session.close(wait) for session in sessions), return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.debug("logging a session out failed: %s", result)
