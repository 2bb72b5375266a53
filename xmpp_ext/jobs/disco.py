"""Service discovery (XEP-0030): what an entity is, what it supports, what it hosts."""

from __future__ import annotations

from dataclasses import dataclass

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout

from xmpp_ext.plugin import NAMESPACE

QUERIES = ("info", "items", "identities", "features", "all")


class DiscoError(Exception):
    """The target answered with an error or not at all; the message is one line."""


@dataclass
class DiscoResult:
    # None: not asked for (e.g. items with `disco info`).
    identities: list[dict[str, str | None]] | None = None
    features: list[str] | None = None
    items: list[dict[str, str | None]] | None = None

    def as_dict(self) -> dict[str, object]:
        return {"identities": self.identities, "features": self.features, "items": self.items}


async def discover(
    client: slixmpp.ClientXMPP, target: JID, query: str = "all", node: str | None = None, timeout: float = 10
) -> DiscoResult:
    """Ask ``target`` for what ``query`` names: info, then items for ``all``, as the XEP-0030 guide's browser does."""
    disco = client.plugin["xep_0030"]
    result = DiscoResult()
    if query in ("info", "identities", "features", "all"):
        info = await _ask(disco.get_info, target, node, timeout, "disco#info")
        if query != "features":
            result.identities = [
                {"category": category, "type": itype, "name": name, "lang": lang}
                for category, itype, lang, name in info["disco_info"]["identities"]
            ]
        if query != "identities":
            result.features = sorted(info["disco_info"]["features"])
    if query in ("items", "all"):
        items = await _ask(disco.get_items, target, node, timeout, "disco#items")
        result.items = [
            {"jid": str(jid), "node": item_node, "name": name} for jid, item_node, name in items["disco_items"]["items"]
        ]
    return result


async def announces_extension(
    client: slixmpp.ClientXMPP, target: JID, timeout: float, feature: str = NAMESPACE
) -> bool:
    """Whether ``target``'s disco#info lists ``feature``, by default the extension's namespace (DiscoError if it
    cannot tell)."""
    result = await discover(client, target, "features", timeout=timeout)
    return feature in (result.features or [])


async def _ask(method, target: JID, node: str | None, timeout: float, what: str):
    try:
        # local=False: always ask the network, even about our own JID.
        return await method(jid=target, node=node, local=False, timeout=timeout)
    except IqError as error:
        text = f" ({error.text})" if error.text else ""
        hint = ""
        if error.condition == "service-unavailable" and target.user:
            # What a server answers for an account's JID that is offline, unknown, or not sharing its presence.
            hint = "; is it online, and does it share its presence with you?"
        raise DiscoError(f"{what} of {target} failed: {error.condition}{text}{hint}") from None
    except IqTimeout:
        raise DiscoError(f"{what} of {target}: no answer within {timeout:g}s") from None


def format_listing(result: DiscoResult) -> list[str]:
    """The result as readable lines: identities as category/type name, features sorted, items as JID node name."""
    lines: list[str] = []
    if result.identities is not None:
        lines.append("Identities:")
        for identity in result.identities:
            name = f"  {identity['name']}" if identity["name"] else ""
            lines.append(f"  {identity['category']}/{identity['type']}{name}")
    if result.features is not None:
        lines.append("Features:")
        lines.extend(f"  {feature}" for feature in result.features)
    if result.items is not None:
        lines.append("Items:")
        for item in result.items:
            parts = [item["jid"], f"node={item['node']}" if item["node"] else "", item["name"] or ""]
            lines.append("  " + "  ".join(part for part in parts if part))
    return lines
