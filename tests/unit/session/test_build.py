"""xmpp_ext.session.build and settings: where a client connects and how, without a server."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("host", "port", "endpoint", "address"),
    [
        (None, None, None, "example.net (DNS SRV)"),
        ("127.0.0.1", None, ("127.0.0.1", 5222), "127.0.0.1:5222"),
        (None, 5223, ("example.net", 5223), "example.net:5223"),
        ("xmpp.example.net", 15222, ("xmpp.example.net", 15222), "xmpp.example.net:15222"),
    ],
)
def test_connection_endpoint(host, port, endpoint, address):
    from xmpp_ext.session import ConnectionSettings, build_client
    from xmpp_ext.util.secret import Secret

    settings = ConnectionSettings(jid="me@example.net", password=Secret("x"), host=host, port=port)
    assert settings.endpoint() == endpoint
    assert settings.address == address
    # With an explicit address slixmpp must not try direct TLS on a STARTTLS port first.
    assert build_client(settings, plugins=()).enable_direct_tls is (endpoint is None)


def test_direct_tls_means_tls_from_the_first_byte_and_port_5223():
    from xmpp_ext.session import ConnectionSettings, build_client
    from xmpp_ext.util.secret import Secret

    settings = ConnectionSettings(jid="me@example.net", password=Secret("x"), host="127.0.0.1", direct_tls=True)
    assert settings.endpoint() == ("127.0.0.1", 5223)
    client = build_client(settings, plugins=())
    assert (client.enable_direct_tls, client.enable_starttls, client.enable_plaintext) == (True, False, False)
