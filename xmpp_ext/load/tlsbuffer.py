"""asyncio's TLS read buffer in a load worker: 16 KiB, and one for the whole process instead of one per connection.

CPython 3.11-3.13's ``asyncio.sslproto.SSLProtocol`` allocates
``bytearray(max_size)`` (256 KiB, zero-filled, so resident) per TLS connection
in ``__init__``. The selector event loop's socket transport asks the protocol
for that buffer (``get_buffer``), ``recv_into``s it and calls
``buffer_updated(n)``, which first copies the n bytes into the connection's
own ``ssl.MemoryBIO``, all in one synchronous callback. So the buffer holds
data only for the length of one call, and one buffer can serve every TLS
connection of a single-threaded selector loop. (Not a proactor loop: there a
read into the buffer is still under way when the next one is handed out.)

No parameter of ``loop.create_connection`` or ``loop.start_tls`` (slixmpp's
STARTTLS path) reaches the buffer, and the transport's
``set_read_buffer_limits`` only sets flow-control marks. So a load worker,
whose process exists only for its load sessions, installs a subclass of
``SSLProtocol`` in ``asyncio.sslproto`` (where both of those look it up at
call time) that reads at most one TLS record at a time (16 KiB, RFC 8446
§5.1: at most 2^14 bytes of plaintext) into the one shared buffer. A session
then keeps no read buffer of its own: 16 KiB less each, at no CPU cost (every
read is still up to a whole record).

The same subclass keeps its write backlog (empty but between two writes of
one event-loop pass) in a list instead of a 760-byte deque
(xmpp_ext.load.smallqueues).

``tests/unit/load/test_tlsbuffer.py`` is the canary: it checks each of the
facts above against the running CPython (the allocation per connection, what
``get_buffer``/``buffer_updated`` use, that two connections read through the
one buffer and each gets its own bytes).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from asyncio import selector_events, sslproto

from xmpp_ext.load.smallqueues import SmallDeque

log = logging.getLogger(__name__)

#: Bytes read from a TLS socket at once: one whole TLS record.
READ_SIZE = 16 * 1024
#: The CPython versions whose sslproto.SSLProtocol works as described above.
PYTHONS = ((3, 11), (3, 12), (3, 13))

_ORIGINAL = sslproto.SSLProtocol


class SharedReadBufferSSLProtocol(_ORIGINAL):  # type: ignore[misc, valid-type]
    """asyncio's SSLProtocol reading ``READ_SIZE`` at most, into the buffer every connection of the process shares."""

    max_size = READ_SIZE
    _shared = bytearray(READ_SIZE)
    _shared_view = memoryview(_shared)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # What get_buffer() hands the transport and buffer_updated() copies from (asyncio private names).
        self._ssl_buffer = self._shared
        self._ssl_buffer_view = self._shared_view
        self._write_backlog = SmallDeque()  # asyncio private name too: a deque of app data not yet encrypted


def supported() -> bool:
    """Whether this CPython's SSLProtocol is the one described above (a known version, an int ``max_size``)."""
    return sys.version_info[:2] in PYTHONS and isinstance(_ORIGINAL.max_size, int)


def share_read_buffer(loop: asyncio.AbstractEventLoop) -> int | None:
    """Make every TLS connection made from now on read through the shared ``READ_SIZE`` buffer.

    Returns the read size, or None (nothing changed, a warning logged) where
    that is unsafe or unknown: another CPython, or a loop that is not a
    selector loop.
    """
    if not supported() or not isinstance(loop, selector_events.BaseSelectorEventLoop):
        log.warning(
            "asyncio's TLS read buffer left at its default (one per connection) on Python %s with %s",
            sys.version.split()[0],
            type(loop).__name__,
        )
        return None
    sslproto.SSLProtocol = SharedReadBufferSSLProtocol
    return READ_SIZE


def restore() -> None:
    """asyncio's own SSLProtocol again (for tests)."""
    sslproto.SSLProtocol = _ORIGINAL
