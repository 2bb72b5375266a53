"""``xmppext record``: a live session on a throwaway server becomes a Scansion script that replays.

How it records, and why this way
--------------------------------
Clients log in through a recording proxy (proxy.py) that sits in front of the
local server and ends TLS itself. xmppext made the server's CA and
certificate, so the proxy presents that very certificate and clients verify
it as they would verify the server; it opens its own TLS connection to the
server, verified with the same CA. It forwards every byte unchanged and reads
them on the way (stream.py), keeping the stanzas of each session after
resource binding (recording.py); normalise.py turns them into a script.

The ways that were weighed (issue 24), and what each would have cost:

* **This proxy** (chosen): one mechanism for both servers and for any client
  software (the tool's own, go-sendxmpp, a desktop client), the only way
  that records *every* stanza on the wire between a client and the server,
  the server's pushes and the client's own acknowledgements included, in the
  order the client saw them. It costs following STARTTLS (two TLS switches
  at ``<proceed/>``), an incremental parser per direction, and one caveat:
  SASL channel binding (SCRAM-*-PLUS) cannot pass a TLS-ending proxy, so the
  proxy leaves it out of the mechanisms it hands on and clients use plain
  SCRAM (see proxy.py). About 550 lines (proxy.py, stream.py, recording.py);
  a client that pins the server's certificate still works: it is the same.
* **Prosody's mod_scansion_record** (Debian's 0.12.3): Prosody only.
  ejabberd has no counterpart: it would need an Erlang module built against
  the packaged ejabberd, or its debug log parsed (Erlang terms), so two
  recorders for one job, and the replay check on both servers would rest on
  two different records of the truth. Its output needs the same normaliser
  (it keeps server-made ids, random resources and timestamps literally,
  names accounts Romeo, Juliet..., gives every client the password
  "password") plus a parser for it, and it is written only on a clean server
  shutdown (its log part could be read before). Cheapest for Prosody alone
  (a module line in the config, about 100 lines to read its output).
* **A recorder inside the tool's own clients** (``send --record``,
  ``scenario --record``): slixmpp filters make it small, but it records only
  xmppext's clients, and a foreign client or bot (the point of recording)
  not at all.

Nothing here stores or prints a password: the proxy reads SASL only to see
it succeed and keeps nothing before binding; the normaliser still checks the
text it writes for every account's password.
"""
