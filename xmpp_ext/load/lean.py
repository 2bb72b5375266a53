"""What a load session does without: costs slixmpp pays per client that thousands of load sessions never use.

* **Bounded parser feeds.** expat (2.5, as bundled with CPython 3.11) copies
  every chunk ``XMLParser.feed`` gives it into a buffer of its own that grows
  to about 1.5 times the largest chunk fed (plus the 1 KiB of context it
  keeps) and never shrinks. A load session's chunks are whatever one TLS read
  decrypted: usually one stanza, but a server that falls behind sends many at
  once, and one 16 KiB read would leave that session holding ~28 KiB for the
  rest of the run. ``bound_parser_feeds`` gives the parser at most
  ``FEED_SLICE`` bytes at a time (its buffer stays at ~3.5 KiB); a chunk that
  small, the usual case, goes through as it is.
* **No whitespace keepalive.** slixmpp 1.17 starts a repeating 300 s timer at
  every session start (its ``whitespace_keepalive`` flag is never read). With
  thousands of sessions per worker that is thousands of timers in the event
  loop's heap, and every timer the worker itself sets (the open-loop
  schedule's sleeps, the expiry) then sifts through them in Python
  (``TimerHandle.__lt__``). A load run sends its own traffic on every sender
  session; a responder idle for minutes (``--kind ping``) stays logged in on
  Prosody and ejabberd, which close no authenticated stream for silence.
* **No instant messaging or roster bookkeeping.** Every slixmpp client
  registers stanza handlers for messages with a body or an error, presence
  and roster pushes, and a dozen event handlers behind them (the roster's
  presence states). A load session sends no presence and asks for no
  roster, so the server sends it none, and its exchange's messages are
  claimed by its own filters before any handler: those handlers are removed
  (``remove_handler``, ``del_event_handler``), about 4 KiB less per session.
  A stray message or presence is then dropped, as slixmpp drops a stanza no
  handler matches (an iq would still get its error reply).
* **No stream features it has no use for.** Roster versioning and
  pre-approval (RFC 6121) only note that the server offers them, for a
  roster and subscriptions a load session never has; XEP-0478's limits are
  read into an attribute nothing reads. An engine session's client
  (``LeanClient``) never registers their plugins (ClientXMPP registers each
  of its default features through ``register_plugin``); on any other client
  their handlers are unregistered (``unregister_feature``) and their plugins
  disabled (``plugin.disable``): about 2 KiB less per session and three
  fewer features handled at login.
"""

from __future__ import annotations

from typing import Any

import slixmpp

from xmpp_ext.session import slixmpp_private

#: slixmpp's stanza handlers (by name) a load session never needs.
UNUSED_HANDLERS = ("IM", "IMError", "Presence", "Roster Update")

#: slixmpp's stream features a load session needs no handler for: (feature, its order, the plugin registering it).
UNUSED_FEATURES = (
    ("rosterver", 9000, "feature_rosterver"),
    ("preapproval", 9001, "feature_preapproval"),
    ("limits", 10000, "feature_limits"),
)

_UNUSED_FEATURE_PLUGINS = frozenset(plugin for _feature, _order, plugin in UNUSED_FEATURES)

#: Most bytes given to a session's XML parser at once (its own buffer then stays near 1.5 times this).
FEED_SLICE = 2 * 1024


class LeanClient(slixmpp.ClientXMPP):
    """A ClientXMPP without the plugins of ``UNUSED_FEATURES``: skipped as it registers its defaults, which
    saves building them only to disable them (about a tenth of making a client). For the engine's own sessions
    only: a user's plugin asking for one of them would not get it."""

    def register_plugin(self, plugin: str, pconfig: dict | None = None, module=None) -> None:
        if plugin in _UNUSED_FEATURE_PLUGINS:
            return
        super().register_plugin(plugin, pconfig, module)


class SlicedFeed:
    """A stream parser's ``feed`` in slices of at most ``FEED_SLICE`` bytes; ``read_events`` as it is."""

    __slots__ = ("_feed", "read_events")

    def __init__(self, parser: Any) -> None:
        self._feed = parser.feed
        self.read_events = parser.read_events

    def feed(self, data: bytes) -> None:
        if len(data) <= FEED_SLICE:
            self._feed(data)
            return
        for start in range(0, len(data), FEED_SLICE):
            self._feed(data[start : start + FEED_SLICE])


def bound_parser_feeds(client: slixmpp.ClientXMPP) -> None:
    """Every stream parser ``client`` makes from now on is fed in slices (install before connecting)."""
    slixmpp_private.wrap_each_parser(client, SlicedFeed)


def drop_instant_messaging(client: slixmpp.ClientXMPP) -> None:
    """Remove the message, presence and roster handlers of ``client`` and the bookkeeping behind them."""
    for name in UNUSED_HANDLERS:
        client.remove_handler(name)
    for event, handler in slixmpp_private.presence_bookkeeping(client):
        client.del_event_handler(event, handler)


def drop_unused_features(client: slixmpp.ClientXMPP) -> None:
    """Unregister ``UNUSED_FEATURES`` and disable their plugins (one registered in another order is left)."""
    registered = slixmpp_private.stream_features(client)
    for feature, order, plugin in UNUSED_FEATURES:
        if (order, feature) in registered:
            client.unregister_feature(feature, order)
            client.plugin.disable(plugin)


def make_lean(client: slixmpp.ClientXMPP, instant_messaging: bool = False) -> None:
    """All of the above, for one load session's client (before it connects); with ``instant_messaging``, its
    message, presence and roster handling stay (a user's own plugin, under Locust, may rely on them)."""
    bound_parser_feeds(client)
    slixmpp_private.no_whitespace_keepalive(client)
    if not instant_messaging:
        drop_instant_messaging(client)
    drop_unused_features(client)
