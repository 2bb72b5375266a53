"""``python -m xmpp_ext``: the same command as ``xmppext``."""

from xmpp_ext.startup import main

if __name__ == "__main__":
    main()
