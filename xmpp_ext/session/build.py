"""Settings -> a slixmpp client, with its incoming filters and plugins in the one order that is right.

Incoming filters run in the order they are added, and a filter that returns
None ends a stanza there. So the order is fixed here, at registration:

1. XEP-0198's ``h`` counter (when stream management is on): every stanza
   the server sent is counted once, whichever filter below ends it;
2. the depth guard: nothing below it sees a stanza nested deep enough to
   break it;
3. the plugins (the extension and its dependencies), then whatever the job
   adds (the pipeline's reply claiming, the responder's fast answers).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping

import slixmpp

import xmpp_ext.plugin  # noqa: F401  (registers the example_tag plugin by name)
from xmpp_ext.session import streammgmt
from xmpp_ext.session.closing import make_abort_repeatable
from xmpp_ext.session.guard import install_depth_guard
from xmpp_ext.session.inbound_limits import install_inbound_limits
from xmpp_ext.session.settings import ConnectionSettings, ssl_context
from xmpp_ext.session.streammgmt import StreamManagement

DEFAULT_PLUGINS = ("xep_0030", "example_tag")

#: Plugins as names, or names mapped to their configuration dicts.
Plugins = Iterable[str] | Mapping[str, dict | None]


def build_client(
    settings: ConnectionSettings,
    plugins: Plugins = DEFAULT_PLUGINS,
    *,
    stream_management: StreamManagement | None = None,
    client_class: type[slixmpp.ClientXMPP] = slixmpp.ClientXMPP,
    tls_context: ssl.SSLContext | None = None,
) -> slixmpp.ClientXMPP:
    """A client configured for ``settings`` with ``plugins`` registered; not yet connected.

    ``xep_0198`` among ``plugins`` means stream management with its own
    configuration; it is registered first either way. ``tls_context``: one
    ``ssl_context(settings)`` shared by many clients (a load run's thousands
    of logins would otherwise each load the CA file); default: one of its own.
    """
    configs = dict(plugins) if isinstance(plugins, Mapping) else dict.fromkeys(plugins)
    if streammgmt.PLUGIN in configs:
        config = configs.pop(streammgmt.PLUGIN) or {}
        stream_management = StreamManagement(
            resume=config.get("allow_resume", True), window=config.get("window", streammgmt.DEFAULT_ACK_WINDOW)
        )
    context = tls_context if tls_context is not None else ssl_context(settings)
    client = client_class(settings.jid, settings.password.reveal(), ssl_context=context)
    if settings.direct_tls:
        # Only TLS from the first byte: no STARTTLS, never plain text.
        client.enable_direct_tls, client.enable_starttls, client.enable_plaintext = True, False, False
    elif settings.endpoint() is not None:
        # An explicit address is a client port with STARTTLS (5222-style); slixmpp
        # would otherwise first try direct TLS on it and fail once per attempt.
        client.enable_direct_tls = False
    make_abort_repeatable(client)
    streammgmt.announce_ready_sessions(client)
    if stream_management is not None:
        streammgmt.register(client, stream_management)
    install_depth_guard(client)
    install_inbound_limits(client)  # a server cannot make it hold more than a bounded partial stanza
    for name, config in configs.items():
        client.register_plugin(name, pconfig=config)
    return client
