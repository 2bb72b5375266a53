"""The local servers xmpp_ext.localserver starts; one module per server."""
