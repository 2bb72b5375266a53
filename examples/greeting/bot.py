"""A small bot that greets whoever asks, in the language asked for.

It logs in with the variables every xmppext command reads::

    XMPPEXT_JID, XMPPEXT_PASSWORD   its account
    XMPPEXT_HOST, XMPPEXT_PORT      where its server listens (optional: else the JID's domain)
    XMPPEXT_CA_CERT                 the CA to trust for that server (optional: else the system's)

``xmppext scenario --responder 'python bot.py'`` starts it with exactly these,
for an account of its own on each server. It sends its presence and prints
``READY <full JID>`` once its session has started, and stops on SIGTERM or Ctrl-C.

Its answers are also a plugin of their own, ``GreetingResponder``, so
``xmppext respond --plugin bot:GreetingResponder`` can answer in its place.
"""

import asyncio
import os
import signal
import ssl

import greeting  # noqa: F401  (registers the "greeting" plugin)
import slixmpp
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.base import BasePlugin, register_plugin

GREETINGS = {"en": "Good morning", "fr": "Bonjour", "de": "Guten Morgen"}


def answer(iq: slixmpp.Iq) -> None:
    """The ``greeting_request`` handler: a result carrying the greeting, or item-not-found."""
    language = iq["greeting"]["language"]
    if language not in GREETINGS:
        # Raised in a handler, it becomes exactly one error reply to the request.
        raise XMPPError("item-not-found", text=f"no greeting in {language!r}")
    reply = iq.reply()
    reply["greeting"]["language"] = language
    reply["greeting"]["text"] = GREETINGS[language]
    reply.send()


class GreetingResponder(BasePlugin):
    """``answer`` for every greeting request: the bot's answers, for any client that registers this plugin."""

    name = "greeting_responder"
    description = "answers greeting requests in the languages the bot knows"
    dependencies = {"greeting"}

    def plugin_init(self) -> None:
        self.xmpp.add_event_handler("greeting_request", answer)

    def plugin_end(self) -> None:
        self.xmpp.del_event_handler("greeting_request", answer)


register_plugin(GreetingResponder)


class GreetingBot(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str, ca_cert: str | None) -> None:
        context = ssl.create_default_context(cafile=ca_cert) if ca_cert else None
        super().__init__(jid, password, ssl_context=context)
        self.enable_direct_tls = False  # XMPPEXT_PORT is a STARTTLS client port
        self.register_plugin("greeting_responder")  # and with it "greeting"
        self.add_event_handler("session_start", self.started)

    def started(self, _event: object) -> None:
        self.send_presence()
        print(f"READY {self.boundjid}", flush=True)


async def main() -> None:
    bot = GreetingBot(os.environ["XMPPEXT_JID"], os.environ["XMPPEXT_PASSWORD"], os.environ.get("XMPPEXT_CA_CERT"))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    host, port = os.environ.get("XMPPEXT_HOST"), os.environ.get("XMPPEXT_PORT")
    bot.connect(host or None, int(port) if port else None)
    await stop.wait()
    await bot.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
