"""xmpp_ext.session.closing: a connection dropped twice, then written to, on asyncio's own TLS transport.

The transport is asyncio's real TLS one (``SSLProtocol``'s application
transport) before any byte has moved: what happens to it on close and abort
is all asyncio's, no server is needed.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto

import pytest
import slixmpp

from xmpp_ext.session import ConnectionSettings, build_client
from xmpp_ext.session.closing import closing
from xmpp_ext.session.login import disconnect
from xmpp_ext.util.secret import Secret

pytestmark = pytest.mark.asyncio


def tls_transport(loop: asyncio.AbstractEventLoop) -> asyncio.Transport:
    context = ssl.create_default_context()
    protocol = sslproto.SSLProtocol(loop, asyncio.Protocol(), context, None, server_hostname="localhost")
    return protocol._get_app_transport()


def built_client() -> slixmpp.ClientXMPP:
    return build_client(ConnectionSettings(jid="me@localhost", password=Secret("x")), plugins=())


async def test_a_built_client_aborts_twice_then_writes_without_an_error():
    client = built_client()
    client.transport = tls_transport(asyncio.get_running_loop())
    killed = []
    client.add_event_handler("killed", killed.append)
    client.abort()
    client.abort()
    client.send_raw("<presence/>")  # dropped, as a closing TCP transport would
    assert closing(client)
    assert len(killed) == 1


async def test_disconnect_writes_no_footer_to_a_connection_being_dropped():
    client = slixmpp.ClientXMPP("me@localhost", "x")  # slixmpp's own abort: disconnect alone must not write
    transport = client.transport = tls_transport(asyncio.get_running_loop())
    written = []
    transport.write = written.append  # the stream footer would go here
    transport.close()  # being dropped, not yet lost
    await disconnect(client, wait=0.1)
    assert written == []


async def test_disconnect_writes_the_footer_to_a_connection_still_open():
    client = built_client()
    transport = client.transport = tls_transport(asyncio.get_running_loop())
    written = []
    transport.write = written.append
    await disconnect(client, wait=0.1)
    assert written == [client.stream_footer.encode()]


async def test_slixmpp_alone_still_breaks_a_tls_transport_aborted_twice():
    """When this fails, slixmpp or asyncio no longer needs xmpp_ext.session.closing: remove it."""
    client = slixmpp.ClientXMPP("me@localhost", "x")
    client.transport = tls_transport(asyncio.get_running_loop())
    client.abort()
    client.abort()
    with pytest.raises(AttributeError):
        client.send_raw("<presence/>")
