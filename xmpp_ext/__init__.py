"""xmppext: build and test a custom XMPP stanza extension with slixmpp."""

from xmpp_ext._version import VERSION as __version__

__all__ = ["__version__"]
