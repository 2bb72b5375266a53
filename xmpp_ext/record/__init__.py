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
  SASL channel binding (SCRAM-*-PLUS) cannot pass a TLS-ending proxy; neither
  server here offers it over the proxy's TLS 1.3 (see proxy.py). About 250
  lines.
* **Prosody's mod_scansion_record** (Debian's 0.12.3): Prosody only. ejabberd
  has no counterpart: it would need an Erlang module built against the
  packaged ejabberd, or its debug log parsed (Erlang terms, and it logs
  SASL), so two recorders instead of one. The module also needs the
  normaliser anyway (server-made ids, random resources, timestamps kept
  literally, accounts renamed Romeo/Juliet/..., "password" as every
  password), and writes its file only on a clean server shutdown (its log
  part could be read earlier). Its input filter sees what Prosody parsed,
  not the wire, so it cannot tell a reused server id from a fresh one any
  better than this proxy. Cheapest in lines (a config line and a parser of
  its output), but half the servers.
* **A recorder inside the tool's own clients** (``send --record``,
  ``scenario --record``): slixmpp filters make it small, but it records only
  xmppext's clients, and a foreign client or bot (the point of recording)
  not at all.

Nothing here stores or prints a password: the proxy reads SASL only to see
it succeed and keeps nothing before binding; the normaliser still checks the
text it writes for every account's password.
"""
