"""Load for the greeting extension with Locust: each Locust user is a pair, one asking, one answering.

Needs the locust extra (pip install 'xmppext[locust]') and 2N accounts sharing one password::

    XMPPEXT_PASSWORD=... locust -f locustfile.py --headless -u 100 -r 20 --run-time 60s \\
        --xmpp-accounts 'load{n}@example.net' --xmpp-host xmpp.example.net

The bot's own handler answers on the responder's session; the timed request
is the plugin's ``greet``. Failures are reported by their stanza error
condition (``lost`` when unanswered within --xmpp-timeout).
"""

import greeting  # noqa: F401  (registers the "greeting" plugin)
from bot import answer

from xmpp_ext.locust import XmppPairUser


class GreetingPair(XmppPairUser):
    plugins = ("greeting",)
    exchange_name = "greet"

    def answer_with(self, client):
        client.add_event_handler("greeting_request", answer)

    async def request(self, client, responder):
        assert await client.plugin["greeting"].greet(responder, "fr", timeout=10) == "Bonjour"
