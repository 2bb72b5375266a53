"""Await one stanza that matches a predicate, with a time-out, instead of sleeping."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import slixmpp
from slixmpp.xmlstream import StanzaBase

DEFAULT_TIMEOUT = 10.0


class StanzaTimeout(AssertionError):
    """No matching stanza arrived in time (an AssertionError: the test fails, it does not error)."""


def expect_stanza(
    client: slixmpp.BaseXMPP,
    predicate: Callable[[StanzaBase], bool],
    timeout: float = DEFAULT_TIMEOUT,
) -> Awaitable[StanzaBase]:
    """Start watching ``client``'s incoming stanzas now; await the result for the first match.

    Watch before doing what makes the stanza come, or it may arrive first:
    ``reply = expect_stanza(bob, is_request); await send(); stanza = await reply``.
    The stanza still goes on to the client's handlers as usual (an incoming
    filter sees it first, ahead of any filter that may consume it).
    """
    found: asyncio.Future[StanzaBase] = asyncio.get_running_loop().create_future()

    def watch(stanza: StanzaBase) -> StanzaBase:
        if not found.done():
            try:
                if predicate(stanza):
                    found.set_result(stanza)
            except Exception as exc:  # a broken predicate fails the test, not the client
                found.set_exception(exc)
        return stanza

    # First in line, so no filter that consumes stanzas hides one from it. slixmpp
    # appends on order=0 and inserts otherwise; list.insert clamps a very negative index to 0.
    client.add_filter("in", watch, order=-sys.maxsize)

    async def result() -> StanzaBase:
        try:
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancellation (3.11)
                return await found
        except TimeoutError:
            raise StanzaTimeout(
                f"{client.boundjid}: no stanza matching {getattr(predicate, '__name__', predicate)} within {timeout:g}s"
            ) from None
        finally:
            client.del_filter("in", watch)

    return result()


async def wait_for_stanza(
    client: slixmpp.BaseXMPP,
    predicate: Callable[[StanzaBase], bool],
    timeout: float = DEFAULT_TIMEOUT,
) -> StanzaBase:
    """The next stanza ``client`` receives that satisfies ``predicate``; StanzaTimeout if none in time."""
    return await expect_stanza(client, predicate, timeout)
