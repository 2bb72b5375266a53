"""The kinds of local server xmpp_ext can start, named once: reading them imports no server code."""

#: In the order commands list and ``--server all`` runs them.
LOCAL_SERVER_KINDS = ("prosody", "ejabberd")
