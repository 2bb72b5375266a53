"""The greeting extension: ``<greeting xmlns="urn:example:greeting" language="en"/>`` asked for in an iq get.

Importing this package registers the slixmpp plugin by name, so any client can
``register_plugin("greeting")``.
"""

from slixmpp.plugins.base import register_plugin

from greeting.plugin import GreetingPlugin
from greeting.stanza import NAMESPACE, Greeting

register_plugin(GreetingPlugin)

__all__ = ["NAMESPACE", "Greeting", "GreetingPlugin"]
