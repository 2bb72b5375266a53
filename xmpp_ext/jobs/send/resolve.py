"""Who to send to: a bare JID narrowed to an online resource announcing the extension, or a support check."""

from __future__ import annotations

import asyncio
import time

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout

from xmpp_ext.plugin import NAMESPACE


class NotSupported(Exception):
    """The peer's service discovery does not list the extension: nothing was sent."""


class ResolveError(Exception):
    """A bare JID could not be narrowed to an online resource that supports the extension."""


async def resolve_bare_jid(
    client: slixmpp.ClientXMPP, bare: JID, timeout: float, subscribe: bool = False, feature: str = NAMESPACE
) -> JID:
    """Find an online resource of ``bare`` that advertises ``feature`` (by default, the extension's namespace).

    The XMPP way: our initial presence makes the server send us the presence
    of every contact we are subscribed to; each available resource of
    ``bare`` is then asked for its disco#info. Without a subscription no
    presence comes, so that fails at once, unless ``subscribe`` asks for one
    (a lasting roster change, hence opt-in).
    """
    deadline = time.monotonic() + timeout
    available: asyncio.Queue[JID] = asyncio.Queue()

    def on_presence(presence: slixmpp.Presence) -> None:
        if presence["from"].bare == bare.bare and presence["from"].resource:
            available.put_nowait(presence["from"])

    client.add_event_handler("presence_available", on_presence)
    try:
        roster = await client.get_roster(timeout=timeout)
        items = roster["roster"]["items"] if roster is not None else {}
        subscription = items.get(bare, {}).get("subscription", "none")
        if subscription not in ("to", "both"):
            if not subscribe:
                raise ResolveError(
                    f"{bare} is a bare JID and you are not subscribed to its presence, so its online resources "
                    "are not visible: pass a full JID (the responder prints it on its READY line) or add --subscribe"
                )
            client.send_presence_subscription(pto=bare)
        client.send_presence()
        tried: set[JID] = set()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):  # not wait_for: it can swallow a Ctrl-C (3.11)
                candidate = await available.get()
            if candidate in tried:
                continue
            tried.add(candidate)
            try:
                info = await client.plugin["xep_0030"].get_info(jid=candidate, timeout=max(0.1, remaining))
            except (IqError, IqTimeout):
                continue
            if feature in info["disco_info"]["features"]:
                return candidate
    except (TimeoutError, IqTimeout):
        raise ResolveError(
            f"no online resource of {bare} advertising {feature} was found within {timeout:g}s; "
            "pass a full JID (the responder prints it on its READY line)"
        ) from None
    finally:
        client.del_event_handler("presence_available", on_presence)


async def ensure_supported(client: slixmpp.ClientXMPP, peer: JID, timeout: float, feature: str = NAMESPACE) -> None:
    """Raise NotSupported unless ``peer`` announces ``feature`` (DiscoError when it does not answer)."""
    from xmpp_ext.jobs.disco import announces_extension

    if not await announces_extension(client, peer, timeout, feature):
        raise NotSupported(f"{peer} does not announce {feature} in its service discovery; nothing was sent")
