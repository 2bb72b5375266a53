"""``xmppext load``: thousands of sender/responder pairs on every core, measured like a load tool.

The parent process (``coordinator``) provisions accounts, starts one worker
process per core (``worker``: its own asyncio loop, its share of the pairs),
merges what they report every second and decides the outcome. Sessions are
built and connected in one module only (``sessions``).
"""
