"""The slixmpp plugin: asks for greetings, and answers requests through the ``greeting_request`` event."""

from slixmpp import JID, Iq
from slixmpp.exceptions import XMPPError
from slixmpp.plugins import BasePlugin
from slixmpp.xmlstream import register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from greeting import stanza
from greeting.stanza import NAMESPACE, Greeting


class GreetingPlugin(BasePlugin):
    """<greeting xmlns="urn:example:greeting"/> in iq get requests."""

    name = "greeting"
    description = "greeting: ask an entity to greet you in a language"
    dependencies = {"xep_0030"}
    stanza = stanza
    default_config = {"timeout": 10}

    def plugin_init(self) -> None:
        register_stanza_plugin(Iq, Greeting)
        self.xmpp.register_handler(Callback("Greeting get", StanzaPath("iq@type=get/greeting"), self._handle_get))

    def plugin_end(self) -> None:
        self.xmpp.remove_handler("Greeting get")
        self.xmpp.plugin["xep_0030"].del_feature(feature=NAMESPACE)

    def session_bind(self, jid: JID) -> None:
        self.xmpp.plugin["xep_0030"].add_feature(NAMESPACE)

    def _handle_get(self, iq: Iq) -> None:
        if not iq["greeting"]["language"]:
            raise XMPPError("bad-request", text="a greeting request names a language", etype="modify")
        if not self.xmpp.event_handled("greeting_request"):
            raise XMPPError("feature-not-implemented", text="this entity does not greet")
        self.xmpp.event("greeting_request", iq)

    def send_greet(self, jid: JID | str, language: str, **iqkwargs):
        """Ask ``jid`` for a greeting in ``language``; returns the future of the result iq."""
        iq = self.xmpp.make_iq_get(ito=jid)
        iq["greeting"]["language"] = language
        iqkwargs.setdefault("timeout", self.timeout)
        return iq.send(**iqkwargs)

    async def greet(self, jid: JID | str, language: str, **iqkwargs) -> str:
        """The greeting ``jid`` answers with.

        :raises IqError: ``jid`` refused (e.g. ``bad-request`` without a language).
        :raises IqTimeout: no answer in time.
        """
        result = await self.send_greet(jid, language, **iqkwargs)
        return result["greeting"]["text"]
